#!/usr/bin/env python3
# Attack: descriptors inherited from the worker (the Redis connection, the output file,
# the state dir, a secret file the runner deliberately holds open on fd 7 while it runs
# reelbox). Lists /proc/self/fd and probes fds 3..1023 with fstat, reading what it finds.
# Contained: only 0, 1 and 2 are open (the host checks the secret file's content does not
# appear in the log).
#@include _lib.py
import stat

listed = sorted(int(x) for x in os.listdir("/proc/self/fd"))
log("fds listed: %s" % listed)
for fd in range(3, 1024):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    try:
        target = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        target = "?"
    if target.startswith("/proc/") and "/fd" in target:
        continue  # the listing's own directory fd
    breach("inherited fd %d -> %s (mode %o)" % (fd, target, st.st_mode))
    if stat.S_ISREG(st.st_mode):
        try:
            log("fd %d content: %r" % (fd, os.pread(fd, 200, 0)))
        except OSError as e:
            log("fd %d read: %s" % (fd, e))
    elif stat.S_ISSOCK(st.st_mode):
        try:
            os.write(fd, b"PING\r\n")
            log("fd %d socket reply: %r" % (fd, os.read(fd, 100)))
        except OSError as e:
            log("fd %d socket: %s" % (fd, e))
for fd in (0, 1, 2):
    try:
        log("fd %d -> %s" % (fd, os.readlink("/proc/self/fd/%d" % fd)))
    except OSError as e:
        log("fd %d: %s" % (fd, e))
finish()
