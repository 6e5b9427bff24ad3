#!/usr/bin/env python3
# Attack: mount(2) and umount2(2) - mount a tmpfs or procfs, bind-mount / somewhere
# writable, remount / read-write, unmount the read-only layers to uncover what is below.
# Contained: mount and umount2 are closed by the policy.
#@include _lib.py

mnt = os.path.join(SCRATCH, "m").encode()
os.makedirs(mnt, exist_ok=True)
MS_BIND, MS_REMOUNT, MS_RDONLY, MNT_DETACH = 4096, 32, 1, 2
expect_closed("mount tmpfs on scratch/m", "mount", b"none", mnt, b"tmpfs", 0, None)
expect_closed("mount proc on scratch/m", "mount", b"proc", mnt, b"proc", 0, None)
expect_closed("bind-mount / on scratch/m", "mount", b"/", mnt, None, MS_BIND, None)
expect_closed("remount / read-write", "mount", None, b"/", None, MS_REMOUNT | MS_BIND, None)
expect_closed("umount2(/job, MNT_DETACH)", "umount2", b"/job", MNT_DETACH)
expect_closed("umount2(/, MNT_DETACH)", "umount2", b"/", MNT_DETACH)
finish()
