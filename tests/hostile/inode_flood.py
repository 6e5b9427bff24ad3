#!/usr/bin/env python3
# Attack: exhaust inodes and dentries with empty files (up to 200,000 or 5 s): no bytes
# are written, so a size limit alone does not stop it; kernel memory grows instead.
# Contained: creation stops with ENOSPC (an inode cap) or the job's memory limit, or the
# flood stays inside scratch and vanishes with it (the host checks shared memory did not
# grow and nothing is left in the state dir).
#@include _lib.py
import time

d = os.path.join(SCRATCH, "flood")
os.mkdir(d)
n, stop, t0 = 0, "the cap of 200000", time.monotonic()
try:
    while n < 200000:
        os.close(os.open(os.path.join(d, "%x" % n), os.O_CREAT | os.O_WRONLY, 0o600))
        n += 1
        if n % 5000 == 0 and time.monotonic() - t0 > 5:
            stop = "5 s"
            break
except OSError as e:
    stop = ename(e.errno)
log("created %d files in %.1f s, stopped by %s" % (n, time.monotonic() - t0, stop))
finish()
