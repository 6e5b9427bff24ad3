#!/usr/bin/env python3
# Attack: lift the second layer of limits - raise the hard limits of processes, open
# files, file size, CPU time and core size (which needs CAP_SYS_RESOURCE), or use prlimit
# on pid 1.
# Contained: the hard limits are finite and cannot be raised; RLIMIT_CORE is 0.
#@include _lib.py
import resource

INF = resource.RLIM_INFINITY
for name in ("RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_AS"):
    res = getattr(resource, name)
    soft, hard = resource.getrlimit(res)
    log("%s: soft %s hard %s" % (name, soft, hard))
    want = INF if hard != INF else None
    if name == "RLIMIT_NOFILE":
        want = hard * 4 if hard != INF else None
    if want is not None:
        try:
            resource.setrlimit(res, (want, want))
            breach("raised %s hard limit from %s to %s" % (name, hard, want))
        except (ValueError, OSError) as e:
            log("raise %s: %s" % (name, e))
    try:
        p1 = resource.prlimit(1, res)
    except (ValueError, OSError) as e:
        log("prlimit(1, %s) get: %s" % (name, e))
        continue
    if p1[1] == INF:
        continue  # nothing to raise
    try:
        resource.prlimit(1, res, (INF, INF))
        breach("prlimit raised pid 1's %s hard limit from %s to infinity" % (name, p1[1]))
    except (ValueError, OSError) as e:
        log("prlimit(1, %s) raise from %s: %s" % (name, p1[1], e))
core = resource.getrlimit(resource.RLIMIT_CORE)
if core != (0, 0):
    breach("RLIMIT_CORE is %s, not (0, 0)" % (core,))
for name in ("RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE"):
    if resource.getrlimit(getattr(resource, name))[1] == INF:
        breach("%s hard limit is infinite" % name)
finish()
