#!/usr/bin/env python3
# Attack: raw IP sockets (ICMP, raw TCP): spoofing and scanning below the TCP stack.
# Contained: refused (EPERM from the filter or the missing CAP_NET_RAW).
#@include _lib.py
import socket

for fam, proto, label in ((socket.AF_INET, socket.IPPROTO_ICMP, "AF_INET/SOCK_RAW/ICMP"),
                          (socket.AF_INET, socket.IPPROTO_RAW, "AF_INET/SOCK_RAW/RAW"),
                          (socket.AF_INET6, socket.IPPROTO_ICMPV6, "AF_INET6/SOCK_RAW/ICMPV6")):
    try:
        s = socket.socket(fam, socket.SOCK_RAW, proto)
        sentry_answer("raw socket %s created" % label)
        s.close()
    except OSError as e:
        log("%s: %s" % (label, ename(e.errno)))
        if e.errno not in CLOSED + (errno.EAFNOSUPPORT,):
            sentry_answer("raw socket %s reached the kernel: %s" % (label, ename(e.errno)))
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sentry_answer("unprivileged ICMP datagram socket (ping socket) created")
except OSError as e:
    log("AF_INET/SOCK_DGRAM/ICMP (ping socket): %s" % ename(e.errno))
finish()
