#!/usr/bin/env python3
# Attack: read the kernel log (addresses for KASLR bypass, other tenants' messages) with
# syslog(2) and /dev/kmsg, and clear it to hide tracks.
# Contained: syslog is closed by the policy and /dev/kmsg is absent.
#@include _lib.py

buf = ctypes.create_string_buffer(4096)
expect_closed("syslog(READ_ALL)", "syslog", 3, buf, 4096)
expect_closed("syslog(SIZE_BUFFER)", "syslog", 10, None, 0)
expect_closed("syslog(CLEAR)", "syslog", 5, None, 0)
try:
    with open("/dev/kmsg", "rb") as f:
        breach("/dev/kmsg readable: %r" % f.read(80))
except OSError as e:
    log("/dev/kmsg: %s" % ename(e.errno))
finish()
