#!/usr/bin/env python3
# Attack: starve the host's CPU or survive its OOM killer: nice -20, SCHED_FIFO/SCHED_RR
# real-time scheduling, an oom_score_adj of -1000, ioprio real-time class.
# Contained: each fails (EPERM/EACCES) for lack of CAP_SYS_NICE/CAP_SYS_RESOURCE.
#@include _lib.py

for label, fn in (("setpriority(-20)", lambda: os.setpriority(os.PRIO_PROCESS, 0, -20)),
                  ("SCHED_FIFO 50", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))),
                  ("SCHED_RR 50", lambda: os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(50)))):
    try:
        fn()
        sentry_answer(label + " worked")
    except OSError as e:
        log("%s: %s" % (label, ename(e.errno)))
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("-1000")
    with open("/proc/self/oom_score_adj") as f:
        v = f.read().strip()
    if int(v) < 0:
        sentry_answer("oom_score_adj lowered to %s" % v)
except OSError as e:
    log("oom_score_adj -1000: %s" % ename(e.errno))
# ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_RT << 13 | 0)
libc.syscall.argtypes = None
ctypes.set_errno(0)
r = libc.syscall(ctypes.c_long(251), ctypes.c_long(1), ctypes.c_long(0), ctypes.c_long(1 << 13))
if r == 0:
    sentry_answer("ioprio real-time class set")
else:
    log("ioprio_set RT: %s" % ename(ctypes.get_errno()))
finish()
