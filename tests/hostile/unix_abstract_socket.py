#!/usr/bin/env python3
# Attack: abstract unix sockets are not files, so a read-only file system does not hide
# them: only a network namespace does. Connects to the runner's abstract bait socket and
# to every abstract name listed in /proc/net/unix (X11, dbus, systemd ...).
# Contained: no abstract socket of the host is reachable (the bait counts connections).
#@include _lib.py
import socket

names = [ABSTRACT, "/tmp/.X11-unix/X0", "/org/freedesktop/systemd1/notify"]
try:
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7].startswith("@"):
                names.append(parts[7][1:])
except OSError as e:
    log("/proc/net/unix: %s" % e)
log("abstract names seen: %d" % (len(names) - 3))
for n in list(dict.fromkeys(names))[:50]:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect("\0" + n)
        breach("connected to abstract socket @%s" % n)
        s.close()
    except OSError as e:
        log("@%s: %s" % (n, ename(e.errno) if e.errno else e))
finish()
