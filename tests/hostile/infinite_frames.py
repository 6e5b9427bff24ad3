#!/usr/bin/env python3
# Attack: an endless stream of frames, as fast as possible, never exiting.
# Contained: the worker stops at the requested frame count and the job succeeds with
# exactly that many frames (the host counts them with ffprobe).
#@include _lib.py

i = 0
while True:
    write_frames(1, shade=i)
    i += 1
