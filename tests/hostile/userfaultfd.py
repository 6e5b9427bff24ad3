#!/usr/bin/env python3
# Attack: userfaultfd - lets a process stall the kernel at a chosen page fault, the tool
# that turns kernel race conditions into reliable exploits.
# Contained: userfaultfd is closed by the policy (and /dev/userfaultfd is absent).
#@include _lib.py

O_CLOEXEC, UFFD_USER_MODE_ONLY = 0o2000000, 1
expect_closed("userfaultfd(UFFD_USER_MODE_ONLY)", "userfaultfd", O_CLOEXEC | UFFD_USER_MODE_ONLY)
expect_closed("userfaultfd(0)", "userfaultfd", O_CLOEXEC)
e = try_open("/dev/userfaultfd", os.O_RDWR)
if e is None:
    breach("/dev/userfaultfd opened")
else:
    log("/dev/userfaultfd: %s" % ename(e))
finish()
