#!/usr/bin/env python3
# Attack: a 64x48 job whose script writes a Y4M stream declaring 7680x4320 in 4:4:4:
# 100 MB a frame, which a reader that trusts the header allocates, holds and rescales in
# the worker - many times what the job's own size needs.
# Contained: the reader refuses a stream of another size than the job's before it
# allocates a frame: the job fails naming 7680x4320, and reelbox's own VmHWM stays under
# 64 MB (the host samples it).
#@include _lib.py

body = 7680 * 4320 * 3
chunk = b"\x80" * (1 << 20)
log("writing a Y4M stream declaring 7680x4320 C444 to a %dx%d job" % (W, H))
try:
    os.write(1, b"YUV4MPEG2 W7680 H4320 F30:1 C444\n")
    for i in range(FRAMES):
        os.write(1, b"FRAME\n")
        left = body
        while left:
            left -= os.write(1, memoryview(chunk)[: min(left, len(chunk))])
except BrokenPipeError:
    log("the frame pipe was closed")
os._exit(0)
