#!/usr/bin/env python3
# Attack: read the environment and command line of every process the job can see
# (/proc/*/environ, /proc/*/cmdline), hoping for the worker's or pid 1's secrets.
# Contained: only the job's own processes are visible, and none holds a secret; pid 1's
# environ is unreadable (it is not dumpable). The host checks the runner's secret values
# never reach the log (everything readable is printed).
#@include _lib.py

me = os.getpid()
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
log("visible pids: %s" % pids[:40])
for pid in pids:
    for what in ("environ", "cmdline"):
        try:
            with open("/proc/%d/%s" % (pid, what), "rb") as f:
                data = f.read()
        except OSError as e:
            log("/proc/%d/%s: %s" % (pid, what, ename(e.errno)))
            continue
        items = [x.decode(errors="replace") for x in data.split(b"\0") if x]
        log("/proc/%d/%s: %s" % (pid, what, " ".join(items)[:300]))
        if what == "environ" and pid != me:
            names = [i.split("=")[0] for i in items]
            bad = [n for n in names if any(w in n.upper() for w in ("SECRET", "TOKEN", "KEY", "REDIS", "PASSWORD", "REELBOX"))]
            if bad:
                breach("/proc/%d/environ holds %s" % (pid, bad))
        if what == "environ" and pid == 1 and items:
            # the Sentry shows reelbox-init's environ (the job's own, checked above for
            # secrets) whatever its dumpable flag says
            sentry_answer("pid 1's environment is readable: %s" % items[:5])
finish()
