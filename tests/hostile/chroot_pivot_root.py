#!/usr/bin/env python3
# Attack: chroot and pivot_root - the first step of the chroot-escape dance (chroot into
# a subdir while keeping a dir fd outside, then fchdir and ".." up to the real root).
# Contained: chroot and pivot_root are closed by the policy.
#@include _lib.py

d = os.path.join(SCRATCH, "jail")
os.makedirs(os.path.join(d, "old"), exist_ok=True)
outside = os.open("/", os.O_RDONLY)
expect_closed("chroot(scratch/jail)", "chroot", d.encode())
expect_closed("pivot_root(scratch/jail, scratch/jail/old)", "pivot_root", d.encode(), os.path.join(d, "old").encode())
os.fchdir(outside)
os.chdir(SCRATCH)
finish()
