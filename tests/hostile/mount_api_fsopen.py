#!/usr/bin/env python3
# Attack: the new mount API - fsopen/fsconfig/fsmount/move_mount build a mount without
# mount(2), open_tree(OPEN_TREE_CLONE) copies a mount tree, fspick reconfigures a mounted
# file system, mount_setattr flips a mount read-write. A filter that only closes mount(2)
# misses all of them.
# Contained: every one is closed by the policy (even open_tree without flags).
#@include _lib.py

AT_FDCWD, OPEN_TREE_CLONE, FSOPEN_CLOEXEC = -100, 1, 1
expect_closed("fsopen(tmpfs)", "fsopen", b"tmpfs", FSOPEN_CLOEXEC)
expect_closed("fsopen(proc)", "fsopen", b"proc", FSOPEN_CLOEXEC)
expect_closed("fspick(/)", "fspick", AT_FDCWD, b"/", 0)
expect_closed("open_tree(/, OPEN_TREE_CLONE)", "open_tree", AT_FDCWD, b"/", OPEN_TREE_CLONE)
expect_closed("open_tree(/job, 0)", "open_tree", AT_FDCWD, b"/job", 0)
expect_closed("fsmount(-1)", "fsmount", -1, 0, 0)
expect_closed("fsconfig(-1)", "fsconfig", -1, 0, None, None, 0)
expect_closed("move_mount(-1)", "move_mount", -1, b"", AT_FDCWD, SCRATCH.encode(), 4)
attr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)  # attr_clr = MOUNT_ATTR_RDONLY
expect_closed("mount_setattr(/, clear RDONLY)", "mount_setattr", AT_FDCWD, b"/", 0, attr, 32)
finish()
