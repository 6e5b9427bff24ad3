#!/usr/bin/env python3
# Attack: kexec_load/kexec_file_load - boot another kernel. Arguments are invalid on
# purpose (no segments, bad fds), so even a breach only proves reachability.
# Contained: both are closed by the policy.
#@include _lib.py

if safe_to_fire():
    expect_closed("kexec_load(no segments)", "kexec_load", 0, 0, 0, 0xdead0000)
    expect_closed("kexec_file_load(-1, -1)", "kexec_file_load", -1, -1, 0, None, 0)
finish()
