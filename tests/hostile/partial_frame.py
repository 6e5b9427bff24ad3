#!/usr/bin/env python3
# Attack: a malformed stream - two and a half frames, then exit 0 - hoping the worker
# encodes garbage, pads it, or crashes on a short read.
# Contained: the job fails with the byte arithmetic and no output file exists.
#@include _lib.py

write_frames(2)
os.write(1, b"\x10" * (frame_bytes() // 2))
log("wrote 2.5 frames")
sys.exit(0)
