#!/usr/bin/env python3
# Attack: quotactl - switch disk quotas of the host's file systems on or off.
# Contained: quotactl is closed by the policy.
#@include _lib.py

if safe_to_fire():
    Q_QUOTAON, Q_QUOTAOFF, Q_SYNC, USRQUOTA = 0x800002, 0x800003, 0x800001, 0
    buf = ctypes.create_string_buffer(128)
    expect_closed("quotactl(Q_QUOTAOFF, /dev/root)", "quotactl", (Q_QUOTAOFF << 8) | USRQUOTA, b"/dev/root", 0, None)
    expect_closed("quotactl(Q_SYNC, all)", "quotactl", (Q_SYNC << 8) | USRQUOTA, None, 0, None)
finish()
