#!/usr/bin/env python3
# Attack: load kernel code - init_module, finit_module, delete_module; and the indirect
# way: socket() of an unusual family makes the kernel run modprobe (as root, on the host)
# for net-pf-N. Arguments are invalid on purpose.
# Contained: the module calls are closed, and so are sockets of any family but AF_UNIX.
#@include _lib.py
import socket

if safe_to_fire():
    expect_closed("init_module(empty)", "init_module", None, 0, b"")
    expect_closed("finit_module(-1)", "finit_module", -1, b"", 0)
    expect_closed("delete_module(hostile_none)", "delete_module", b"hostile_none", 0o4000)
    for fam in (3, 4, 5, 9, 11, 19, 21, 31, 33, 36, 37, 39, 41, 42, 43, 44, 45):  # AX25 IPX APPLETALK X25 ... XDP
        try:
            s = socket.socket(fam, socket.SOCK_DGRAM, 0)
            breach("socket(family %d) was created" % fam)
            s.close()
        except OSError as e:
            if e.errno not in CLOSED + (errno.EAFNOSUPPORT,):  # the filter answers EAFNOSUPPORT
                breach("socket(family %d) reached the kernel: %s" % (fam, ename(e.errno)))
    log("socket(AF_*) of 17 unusual families: all closed" if not _breaches else "socket families: see above")
finish()
