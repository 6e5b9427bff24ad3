#!/usr/bin/env python3
# Attack: the host's files. The runner plants canaries with random content (mode 0666) in
# /root, /tmp, /dev/shm and the project dir, and passes their paths in; this script tries
# to read, overwrite, append to, truncate, rename and delete each, directly and through
# /proc/1/root and /proc/self/root.
# Contained: none is visible; the host checks every canary is byte-identical afterwards
# and its content never reaches the log.
#@include _lib.py

paths = []
for p in CANARIES:
    paths += [p, "/proc/1/root" + p, "/proc/self/root" + p, "/proc/1/cwd/../.." + p]
for p in ["/root/.bash_history", "/root/.ssh/id_rsa", "/etc/shadow", "/var/tmp/reelbox"]:
    paths.append(p)
for p in paths:
    try:
        with open(p, "rb") as f:
            data = f.read(200)
        breach("read %s: %r" % (p, data[:60]))
    except OSError as e:
        log("read %s: %s" % (p, ename(e.errno)))
    for label, flags in (("append", os.O_WRONLY | os.O_APPEND), ("truncate", os.O_WRONLY | os.O_TRUNC)):
        try:
            fd = os.open(p, flags)
            if label == "append":
                os.write(fd, b"pwned by " + MARKER.encode())
            os.close(fd)
            breach("%s %s worked" % (label, p))
        except OSError as e:
            log("%s %s: %s" % (label, p, ename(e.errno)))
    try:
        os.rename(p, p + ".moved")
        breach("renamed %s" % p)
    except OSError as e:
        log("rename %s: %s" % (p, ename(e.errno)))
    try:
        os.unlink(p)
        breach("deleted %s" % p)
    except OSError as e:
        log("unlink %s: %s" % (p, ename(e.errno)))
finish()
