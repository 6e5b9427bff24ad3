#!/usr/bin/env python3
# Attack: a child that keeps the script's stdout and stderr open and sleeps for 60 s
# after the script itself has exited - a worker that waits for EOF on the frame pipe or
# the log would hang until the timeout.
# Contained: the job ends as soon as the script exits (pid 1 kills the rest), long
# before its 30 s timeout; the host checks the elapsed time.
#@include _lib.py

if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", MARKER + "-holder"])
log("child holds stdout and stderr; script exits after its frames")
finish()
