#!/usr/bin/env python3
# Attack: perf_event_open - side channels on other processes and the kernel, and a
# long line of perf privilege escalations.
# Contained: perf_event_open is closed by the policy.
#@include _lib.py

attr = ctypes.create_string_buffer(128)
struct.pack_into("IIQ", attr, 0, 1, 128, 0)  # PERF_TYPE_SOFTWARE, size, PERF_COUNT_SW_CPU_CLOCK
expect_closed("perf_event_open(sw cpu clock, self)", "perf_event_open", attr, 0, -1, -1, 0)
expect_closed("perf_event_open(sw cpu clock, pid 1)", "perf_event_open", attr, 1, -1, -1, 0, ok_errnos=(errno.EACCES, errno.ESRCH))
finish()
