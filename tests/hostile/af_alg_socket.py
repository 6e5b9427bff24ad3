#!/usr/bin/env python3
# Attack: AF_ALG, the kernel crypto API over sockets (CVE-2013-7421, CVE-2015-8970, and a
# favourite of kernel exploit chains).
# Contained: refused (AF_UNIX only).
#@include _lib.py
import socket

try:
    s = socket.socket(38, socket.SOCK_SEQPACKET, 0)  # AF_ALG
    breach("AF_ALG socket created")
    try:
        s.bind(("hash", "sha256"))
        breach("AF_ALG bound to hash/sha256")
    except OSError as e:
        log("AF_ALG bind: %s" % e)
except OSError as e:
    log("AF_ALG: %s" % ename(e.errno))
    if e.errno not in CLOSED + (errno.EAFNOSUPPORT,):  # the filter answers EAFNOSUPPORT
        breach("AF_ALG reached the kernel: %s" % ename(e.errno))
finish()
