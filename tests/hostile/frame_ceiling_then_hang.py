#!/usr/bin/env python3
# Attack: write every frame, then hang for 60 s with stdout still open.
# Contained: the frame count is a ceiling - once it is reached the stream is closed and
# the job succeeds right away; the host checks it ended long before the 30 s timeout.
#@include _lib.py
import time

write_frames()
log("all frames written; hanging")
time.sleep(60)
