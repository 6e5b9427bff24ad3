#!/usr/bin/env python3
# Attack: swapon/swapoff - turn off the host's swap or add a file in scratch as swap.
# Contained: both are closed by the policy.
#@include _lib.py

if safe_to_fire():
    p = os.path.join(SCRATCH, "swapfile").encode()
    open(p, "wb").close()
    expect_closed("swapon(scratch/swapfile)", "swapon", p, 0)
    expect_closed("swapoff(/nonexistent)", "swapoff", b"/nonexistent-swap")
finish()
