#!/usr/bin/env python3
# Attack: reboot(2). The magic numbers are wrong on purpose, so a permitted call fails
# with EINVAL after the permission check instead of rebooting anything.
# Contained: reboot is closed by the policy (EPERM, or the job dies of SIGSYS).
#@include _lib.py

if safe_to_fire():
    expect_closed("reboot(bad magic)", "reboot", 0xfee1dead, 0x12345678, 0x01234567, None)
finish()
