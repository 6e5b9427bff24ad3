#!/usr/bin/env python3
# Attack: TCP to the outside world (192.0.2.1, TEST-NET-1, never routed) with a 1 s timeout,
# the way a script would download a font or exfiltrate data.
# Contained: socket(AF_INET) is refused; failing that, there is no route.
#@include _lib.py
import socket

try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as e:
    log("socket(AF_INET): %s (closed)" % ename(e.errno))
else:
    sentry_answer("socket(AF_INET) was allowed; the policy is AF_UNIX only")
    s.settimeout(1)
    try:
        s.connect(("192.0.2.1", 80))
        breach("connected to 192.0.2.1:80")
    except OSError as e:
        log("connect 192.0.2.1:80: %s" % e)
finish()
