#!/usr/bin/env python3
# Attack: TCP over IPv4 to services on the host's loopback: the bait redis-server on its
# private port, the default Redis port 6379, and a few well-known ports.
# Contained: socket(AF_INET) is refused (AF_UNIX only), and in any case nothing connects.
#@include _lib.py
import socket

for port in (REDIS_PORT, 6379, 22, 80, 2024):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        log("socket(AF_INET, SOCK_STREAM): %s (closed)" % ename(e.errno))
        break
    if port == REDIS_PORT:
        sentry_answer("socket(AF_INET, SOCK_STREAM) was allowed; the policy is AF_UNIX only")
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"PING\r\n")
        breach("connected to 127.0.0.1:%d, reply %r" % (port, s.recv(64)))
    except OSError as e:
        log("connect 127.0.0.1:%d: %s" % (port, e))
    s.close()
finish()
