#!/usr/bin/env python3
# Attack: keep the worker busy forever with a slow drip - one byte of frame data every
# 20 ms, so the stream never stalls for long but no frame ever completes in time. A
# worker that resets its timer on activity never times out.
# Contained: the wall-clock timeout (3 s) fails the job; no output file is left, and the
# host checks it ended within the timeout plus slack.
#@include _lib.py
import time

sent = 0
while True:
    os.write(1, b"\x80")
    sent += 1
    if sent % 100 == 0:
        log("dripped %d bytes" % sent)
    time.sleep(0.02)
