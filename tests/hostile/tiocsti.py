#!/usr/bin/env python3
# Attack: TIOCSTI - push characters into a terminal's input queue, so the user's shell
# runs them after the job (CVE-2016-7545 style); TIOCLINUX (console selection paste); and
# the same requests with high bits set (CVE-2019-10063: a filter that compares only the
# low 32 bits lets 0x100005412 through while the tty layer still sees TIOCSTI).
# On fds 0-2, /dev/tty, and a pty opened from /dev/ptmx if one exists.
# Contained: every one of these ioctls is closed by the filter (EPERM or SIGSYS); an
# ENOTTY means the call reached the tty layer unfiltered.
#@include _lib.py

TIOCSTI, TIOCLINUX = 0x5412, 0x541C
ch = ctypes.c_char(b"x")
fds = {0: "stdin", 1: "stdout", 2: "stderr"}
for p in ("/dev/tty", "/dev/console", "/dev/ptmx"):
    try:
        fds[os.open(p, os.O_RDWR | os.O_NOCTTY)] = p
    except OSError as e:
        log("open %s: %s" % (p, ename(e.errno)))
for fd, what in fds.items():
    for req, label in ((TIOCSTI, "TIOCSTI"), (TIOCSTI | (1 << 32), "TIOCSTI|1<<32"),
                       (TIOCSTI | (0xFFFFFFFF << 32), "TIOCSTI|0xffffffff<<32"), (TIOCLINUX, "TIOCLINUX")):
        expect_closed("ioctl(%s, %s)" % (what, label), "ioctl", fd, req, ctypes.byref(ch))
finish()
