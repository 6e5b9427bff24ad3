#!/usr/bin/env python3
# Attack: queue blocked real-time signals to itself (sigqueue in a loop) and keep them
# pending for a few seconds. Queued signals count against the user namespace's owner as
# well: with root as the owner, 130,000 of them filled root's SigQ, and root's daemons
# got EAGAIN from timer_create until the job ended.
# Contained: RLIMIT_SIGPENDING stops the job at its 64 (sandbox/limits.c). The runner's
# probe:sigqueue check meanwhile calls timer_create as root on the host and reads this
# job's SigQ from the outside.
#@include _lib.py
import signal
import time

PER_JOB = 64
HOLD_S = 4

sig = int(signal.SIGRTMIN)
signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
n, stop = 0, None
while n < 200000:
    ctypes.set_errno(0)
    if libc.sigqueue(os.getpid(), sig, None) != 0:
        stop = ename(ctypes.get_errno())
        break
    n += 1
sigq = status_fields().get("SigQ", "?")
log("sigqueue: %d queued, then %s (SigQ %s)" % (n, stop or "stopped trying", sigq))
if n > PER_JOB:
    sentry_answer("queued %d real-time signals, over the per-job %d" % (n, PER_JOB))
time.sleep(HOLD_S)  # the runner's probe works on the host meanwhile
# Exiting with the signals still blocked discards them: none is delivered.
finish()
