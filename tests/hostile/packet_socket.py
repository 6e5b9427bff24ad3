#!/usr/bin/env python3
# Attack: AF_PACKET sockets (sniffing every frame on an interface, the source of several
# kernel privilege escalations, e.g. CVE-2017-7308, CVE-2020-14386).
# Contained: refused.
#@include _lib.py
import socket

for typ, label in ((socket.SOCK_RAW, "SOCK_RAW"), (socket.SOCK_DGRAM, "SOCK_DGRAM")):
    try:
        s = socket.socket(socket.AF_PACKET, typ, socket.htons(3))
        breach("AF_PACKET %s created" % label)
        s.close()
    except OSError as e:
        log("AF_PACKET %s: %s" % (label, ename(e.errno)))
        if e.errno not in CLOSED + (errno.EAFNOSUPPORT,):  # the filter answers EAFNOSUPPORT
            breach("AF_PACKET %s reached the kernel: %s" % (label, ename(e.errno)))
finish()
