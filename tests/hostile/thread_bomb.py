#!/usr/bin/env python3
# Attack: a thread bomb - threads count as tasks, so a pids limit that only counts
# processes (RLIMIT_NPROC per user in a user namespace, say) lets it through.
# Contained: the pids limit stops it; the job fails naming that limit.
#@include _lib.py
import threading
import time

if safe_to_fire():
    n = 0
    try:
        while n < 100000:
            t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
            t.start()
            n += 1
    except (RuntimeError, OSError) as e:
        log("thread %d failed: %s" % (n + 1, e))
    log("started %d threads; waiting" % n)
    time.sleep(30)
    breach("started %d threads and nothing stopped the job" % n)
finish()
