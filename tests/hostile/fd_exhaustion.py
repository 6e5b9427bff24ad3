#!/usr/bin/env python3
# Attack: open descriptors until the kernel says no (pipes, /dev/null), to exhaust the
# host's file table.
# Contained: RLIMIT_NOFILE stops it early (EMFILE, at most a few thousand).
#@include _lib.py

fds, stop = [], None
try:
    while len(fds) < 1000000:
        r, w = os.pipe()
        fds += [r, w]
except OSError as e:
    stop = ename(e.errno)
log("opened %d descriptors, stopped by %s" % (len(fds), stop))
if stop != "EMFILE" or len(fds) > 65536:
    breach("opened %d descriptors (stopped by %s)" % (len(fds), stop))
for fd in fds:
    os.close(fd)
finish()
