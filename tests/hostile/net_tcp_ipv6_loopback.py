#!/usr/bin/env python3
# Attack: TCP over IPv6 to the host's loopback (::1), the bait redis port and 6379.
# Contained: socket(AF_INET6) is refused, and nothing connects.
#@include _lib.py
import socket

for port in (REDIS_PORT, 6379):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError as e:
        log("socket(AF_INET6, SOCK_STREAM): %s (closed)" % ename(e.errno))
        break
    if port == REDIS_PORT:
        sentry_answer("socket(AF_INET6, SOCK_STREAM) was allowed; the policy is AF_UNIX only")
    s.settimeout(1)
    try:
        s.connect(("::1", port))
        s.sendall(b"PING\r\n")
        breach("connected to [::1]:%d, reply %r" % (port, s.recv(64)))
    except OSError as e:
        log("connect [::1]:%d: %s" % (port, e))
    s.close()
finish()
