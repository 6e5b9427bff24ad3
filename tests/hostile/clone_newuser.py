#!/usr/bin/env python3
# Attack: the same namespaces through clone(2) and clone3(2) instead of unshare: clone
# with CLONE_NEWUSER; clone3, whose flags live in a struct in memory where a seccomp
# filter cannot look (hence the rule: clone3 answers ENOSYS so libc falls back to clone,
# whose flags the filter checks).
# Contained: clone with namespace flags fails with EPERM (or kills); clone3 fails with
# ENOSYS (or EPERM). A child that starts means a breach.
#@include _lib.py

SIGCHLD, CLONE_NEWUSER, CLONE_NEWNS = 17, 0x10000000, 0x20000
for flags, label in ((CLONE_NEWUSER, "CLONE_NEWUSER"), (CLONE_NEWUSER | CLONE_NEWNS, "CLONE_NEWUSER|CLONE_NEWNS")):
    r, e = sc("clone", flags | SIGCHLD, 0, 0, 0, 0)
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
        sentry_answer("clone(%s) started child %d" % (label, r))
    elif e in CLOSED:
        log("clone(%s): %s (closed)" % (label, ename(e)))
    else:
        sentry_answer("clone(%s) reached the kernel: %s" % (label, ename(e)))


class CloneArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal",
                                                 "stack", "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]


for flags, label in ((CLONE_NEWUSER, "CLONE_NEWUSER"), (0, "no flags")):
    args = CloneArgs(flags=flags, exit_signal=SIGCHLD)
    r, e = sc("clone3", ctypes.byref(args), ctypes.sizeof(args))
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
        sentry_answer("clone3(%s) started child %d; clone3 must answer ENOSYS" % (label, r))
    elif e == errno.ENOSYS or (e == errno.EPERM and flags):
        log("clone3(%s): %s (closed)" % (label, ename(e)))
    else:
        sentry_answer("clone3(%s) answered %s; it must answer ENOSYS" % (label, ename(e)))
finish()
