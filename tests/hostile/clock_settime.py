#!/usr/bin/env python3
# Attack: set the host's clock (breaks TLS, logs, leases of every other job): clock_settime,
# settimeofday, clock_adjtime. It only ever "sets" the current time, read just before.
# Contained: all three are closed by the policy.
#@include _lib.py
import time

if safe_to_fire():
    now = time.clock_gettime_ns(time.CLOCK_REALTIME)
    ts = (ctypes.c_long * 2)(now // 10**9, now % 10**9)
    expect_closed("clock_settime(CLOCK_REALTIME, now)", "clock_settime", 0, ts)
    tv = (ctypes.c_long * 2)(now // 10**9, (now % 10**9) // 1000)
    expect_closed("settimeofday(now)", "settimeofday", tv, None)
    tx = ctypes.create_string_buffer(256)
    struct.pack_into("I", tx, 0, 0x8001)  # ADJ_OFFSET_SINGLESHOT, offset 0
    expect_closed("clock_adjtime(CLOCK_REALTIME, singleshot 0)", "clock_adjtime", 0, tx)
finish()
