#!/usr/bin/env python3
# Attack: AF_VSOCK to the hypervisor host (CID 2) - a path out of a VM that no network
# namespace covers.
# Contained: refused (AF_UNIX only).
#@include _lib.py
import socket

try:
    s = socket.socket(40, socket.SOCK_STREAM, 0)  # AF_VSOCK
    breach("AF_VSOCK socket created")
    s.settimeout(1)
    try:
        s.connect((2, 22))
        breach("AF_VSOCK connected to CID 2 port 22")
    except OSError as e:
        log("AF_VSOCK connect CID 2: %s" % e)
except OSError as e:
    log("AF_VSOCK: %s" % ename(e.errno))
    if e.errno not in CLOSED + (errno.EAFNOSUPPORT,):
        breach("AF_VSOCK reached the kernel: %s" % ename(e.errno))
finish()
