#!/usr/bin/env python3
# Attack: acct(2) - process accounting to a file of our choosing (or switching the host's
# accounting off, which is what acct(NULL) does).
# Contained: acct is closed by the policy.
#@include _lib.py

if safe_to_fire():
    expect_closed("acct(scratch/acct)", "acct", os.path.join(SCRATCH, "acct").encode())
    expect_closed("acct(NULL)", "acct", None)
finish()
