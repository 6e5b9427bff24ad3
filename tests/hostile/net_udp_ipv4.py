#!/usr/bin/env python3
# Attack: UDP over IPv4 to loopback (a DNS-ish probe to 127.0.0.1:53 and the bait port) and
# to the outside (192.0.2.1:53); UDP needs no handshake, so a send alone would leak data.
# Contained: socket(AF_INET, SOCK_DGRAM) is refused; failing that, sends go nowhere.
#@include _lib.py
import socket

try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
except OSError as e:
    log("socket(AF_INET, SOCK_DGRAM): %s (closed)" % ename(e.errno))
else:
    sentry_answer("socket(AF_INET, SOCK_DGRAM) was allowed; the policy is AF_UNIX only")
    s.settimeout(1)
    for addr in (("127.0.0.1", 53), ("127.0.0.1", REDIS_PORT), ("192.0.2.1", 53)):
        try:
            s.sendto(b"reelbox-hostile-" + MARKER.encode(), addr)
            log("sendto %s:%d: sent (where to is the namespace's business)" % addr)
        except OSError as e:
            log("sendto %s:%d: %s" % (addr + (e,)))
finish()
