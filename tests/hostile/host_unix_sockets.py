#!/usr/bin/env python3
# Attack: unix sockets of host services by path (docker, containerd, dbus, systemd,
# X11, ssh-agent, the bait dir of the runner): walks /run, /var/run, /tmp and /var/tmp
# and connects to every socket file it finds.
# Contained: the host's socket files are not there or not connectable.
#@include _lib.py
import socket
import stat

found = []
for top in ("/run", "/var/run", "/tmp", "/var/tmp", "/dev/shm", BAIT_DIR):
    for dirpath, dirs, files in os.walk(top):
        if dirpath.count("/") > 5:
            dirs[:] = []
        for fn in files:
            p = os.path.join(dirpath, fn)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    found.append(p)
            except OSError:
                pass
found += ["/var/run/docker.sock", "/run/containerd/containerd.sock",
          "/run/dbus/system_bus_socket", "/run/systemd/private", "/run/systemd/notify"]
log("socket files visible: %d" % len(found))
for p in list(dict.fromkeys(found))[:60]:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(p)
        breach("connected to host socket %s" % p)
        s.close()
    except OSError as e:
        if e.errno == errno.EPROTOTYPE:
            try:
                d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                d.connect(p)
                breach("connected (dgram) to host socket %s" % p)
            except OSError as e2:
                log("%s: %s" % (p, ename(e2.errno)))
        else:
            log("%s: %s" % (p, ename(e.errno) if e.errno else e))
finish()
