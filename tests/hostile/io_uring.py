#!/usr/bin/env python3
# Attack: io_uring - it performs I/O (and opens, connects, ...) from kernel workers that
# seccomp never sees, so a filter on socket/openat is bypassed; it has also been the
# source of many kernel privilege escalations.
# Contained: io_uring_setup, io_uring_enter and io_uring_register are closed.
#@include _lib.py

params = ctypes.create_string_buffer(120)
expect_closed("io_uring_setup(4)", "io_uring_setup", 4, params)
expect_closed("io_uring_enter(-1)", "io_uring_enter", -1, 0, 0, 0, 0, 0, ok_errnos=())
expect_closed("io_uring_register(-1)", "io_uring_register", -1, 0, 0, 0)
finish()
