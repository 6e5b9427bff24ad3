#!/usr/bin/env python3
# Attack: spin the CPU forever in two processes, ignoring SIGTERM, SIGINT and SIGHUP, so
# only SIGKILL (or the cgroup) can end it.
# Contained: the wall-clock timeout kills everything; the job fails with "timeout", and
# the host checks it ended within the timeout plus slack with no process left.
#@include _lib.py
import signal

if safe_to_fire():
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import signal\nfor s in (1,2,15): signal.signal(s, signal.SIG_IGN)\nwhile True: pass", MARKER])
    log("spinning")
    x = 0
    while True:
        x += 1
finish()
