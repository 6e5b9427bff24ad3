#!/usr/bin/env python3
# Attack: hold every inotify instance the kernel will give (inotify_init1 in a loop) for a
# few seconds. The kernel charges them to the user namespace's owner as well: with root
# as the owner, 128 of them left host root, and every other job, with EMFILE.
# Contained: the job gets at most its namespace's 16 (user.max_inotify_instances, set by
# sandbox/ids.c). The runner's probe:inotify check meanwhile creates 32 instances as
# root on the host and counts the ones this job holds from the outside.
#@include _lib.py
import time

PER_JOB = 16
HOLD_S = 4

IN_CLOEXEC = 0o2000000
fds, stop = [], None
while len(fds) < 4096:
    ctypes.set_errno(0)
    fd = libc.inotify_init1(IN_CLOEXEC)
    if fd < 0:
        stop = ename(ctypes.get_errno())
        break
    fds.append(fd)
log("inotify_init1: %d instances, then %s" % (len(fds), stop or "stopped trying"))
if len(fds) > PER_JOB:
    sentry_answer("held %d inotify instances, over the per-job %d" % (len(fds), PER_JOB))
time.sleep(HOLD_S)  # the runner's probe works on the host meanwhile
for fd in fds:
    os.close(fd)
finish()
