#!/usr/bin/env python3
# Attack: kill(-1, SIGKILL) - every process the caller may signal. Outside a pid
# namespace, as a uid shared with other jobs or the worker, this kills them all. The
# runner keeps a sentinel process on the host.
# Contained: only the job's own processes die (the script survives: kill -1 spares the
# caller); the host checks the sentinel, redis-server and reelbox itself are alive.
#@include _lib.py
import signal
import subprocess

if safe_to_fire():
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", MARKER]) for _ in range(2)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(-1, sig)
            log("kill(-1, %s): ok" % sig.name)
        except OSError as e:
            log("kill(-1, %s): %s" % (sig.name, ename(e.errno)))
    for k in kids:
        log("child %d ended with %s" % (k.pid, k.wait()))
finish()
