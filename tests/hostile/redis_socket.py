#!/usr/bin/env python3
# Attack: the worker's own Redis - the queue holds every job and result. Tries TCP
# 127.0.0.1 on the bait port and 6379, the system's unix socket
# /var/run/redis/redis-server.sock and the bait server's unix socket (a host path the
# runner passes in), and scans /run, /var/run and /tmp for any *redis*.sock.
# Contained: nothing connects (the runner checks the bait server's connection count).
#@include _lib.py
import glob
import socket

for port in (REDIS_PORT, 6379):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(b"PING\r\n")
        breach("TCP 127.0.0.1:%d answered %r" % (port, s.recv(64)))
    except OSError as e:
        log("TCP 127.0.0.1:%d: %s" % (port, e))
paths = [REDIS_SOCK, "/var/run/redis/redis-server.sock", "/run/redis/redis-server.sock",
         "/tmp/redis.sock"]
for pat in ("/run/*redis*/*.sock", "/var/run/*redis*/*.sock", "/tmp/*/*redis*.sock", "/tmp/*redis*.sock"):
    paths += glob.glob(pat)
for p in dict.fromkeys(paths):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(p)
        s.sendall(b"PING\r\n")
        breach("unix socket %s answered %r" % (p, s.recv(64)))
    except OSError as e:
        log("unix %s: %s" % (p, e))
finish()
