#!/usr/bin/env python3
# Attack: UDP over IPv6 to ::1 (the bait port, 53) and to 2001:db8::1 (documentation prefix).
# Contained: socket(AF_INET6, SOCK_DGRAM) is refused.
#@include _lib.py
import socket

try:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
except OSError as e:
    log("socket(AF_INET6, SOCK_DGRAM): %s (closed)" % ename(e.errno))
else:
    sentry_answer("socket(AF_INET6, SOCK_DGRAM) was allowed; the policy is AF_UNIX only")
    s.settimeout(1)
    for addr in (("::1", 53), ("::1", REDIS_PORT), ("2001:db8::1", 53)):
        try:
            s.sendto(b"reelbox-hostile", addr)
            log("sendto [%s]:%d: sent" % addr)
        except OSError as e:
            log("sendto [%s]:%d: %s" % (addr + (e,)))
finish()
