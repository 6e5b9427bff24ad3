#!/usr/bin/env python3
# Attack: netlink sockets (route, audit, uevent, nf_tables ...): huge kernel attack
# surface, and a route socket would let a privileged script add interfaces or routes.
# Contained: socket(AF_NETLINK) is refused (AF_UNIX only).
#@include _lib.py
import socket

for proto, label in ((0, "NETLINK_ROUTE"), (9, "NETLINK_AUDIT"), (12, "NETLINK_NETFILTER"),
                     (15, "NETLINK_KOBJECT_UEVENT"), (16, "NETLINK_GENERIC")):
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        sentry_answer("netlink socket %s created" % label)
        s.close()
    except OSError as e:
        log("AF_NETLINK %s: %s" % (label, ename(e.errno)))
        if e.errno not in CLOSED + (errno.EAFNOSUPPORT,):  # the filter answers EAFNOSUPPORT
            sentry_answer("AF_NETLINK %s reached the kernel: %s" % (label, ename(e.errno)))
finish()
