#!/usr/bin/env python3
# Attack: kill the parent and pid 1 (the sandbox's init, started by the worker), with
# SIGKILL, SIGSTOP and SIGSEGV, and try pidfd_open on them; also try the pids around us
# hoping one is the worker.
# Contained: the signals either fail or do nothing (pid 1 of a pid namespace ignores
# signals from inside it that it has no handler for); the job still succeeds and the
# host checks reelbox printed its JSON summary.
#@include _lib.py
import signal

if safe_to_fire():
    targets = [os.getppid(), 1]
    for pid in dict.fromkeys(targets):
        if pid in (0, os.getpid()):
            continue
        for sig in (signal.SIGSTOP, signal.SIGCONT, signal.SIGSEGV, signal.SIGKILL):
            try:
                os.kill(pid, sig)
                log("kill(%d, %s): delivered" % (pid, sig.name))
            except OSError as e:
                log("kill(%d, %s): %s" % (pid, sig.name, ename(e.errno)))
        r, e = sc("pidfd_open", pid, 0)
        log("pidfd_open(%d): %s" % (pid, r if r >= 0 else ename(e)))
    alive = os.path.exists("/proc/1")
    log("pid 1 still there: %s" % alive)
finish()
