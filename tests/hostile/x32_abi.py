#!/usr/bin/env python3
# Attack: the x32 ABI - the same syscalls with bit 30 set in the number (0x40000000 | nr).
# A filter that checks numbers but not the ABI lets x32 calls through, and some kernels
# still accept them.
# Contained: the filter kills x32 calls (the job dies of SIGSYS); ENOSYS from a kernel
# without x32 support means the filter let it through, which the runner will flag because
# the expectation is SIGSYS.
#@include _lib.py

X32 = 0x40000000
ctypes.set_errno(0)
r = libc.syscall(ctypes.c_long(X32 | 39))  # x32 getpid
e = ctypes.get_errno()
if r > 0:
    breach("x32 getpid answered %d" % r)
else:
    log("x32 getpid: %s (not killed by the filter)" % ename(e))
finish()
