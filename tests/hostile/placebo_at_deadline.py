#!/usr/bin/env python3
# Attack: make the encoder the expensive part. The job asks for 1080p at the placebo
# preset and the script writes frames of random noise (nothing to predict, so every
# frame costs the encoder the most) as fast as it can, then exits: the script is done
# in a second and the encode would run far past the deadline - in the worker's own
# process, on its own CPU time and memory, if the worker encoded.
# Contained: the encoder is a separate confined process that the job's wall clock also
# covers: the job fails with the wall-clock timeout within 2 s of its 5 s deadline, and
# reelbox's own process stays small and idle (the host samples its CPU time and VmHWM).
#@include _lib.py

size = frame_bytes()
# a few distinct noise frames, written in turn: generating 60 would cost the script
# more time than writing them
pool = [os.urandom(size) for _ in range(4)]
log("writing %d frames of %dx%d noise" % (FRAMES, W, H))
try:
    for i in range(FRAMES):
        view = memoryview(pool[i % len(pool)])
        while view:
            view = view[os.write(1, view):]
except BrokenPipeError:
    log("the frame pipe was closed after %d frames" % i)
    os._exit(0)
log("all frames written; exit 0")
os._exit(0)
