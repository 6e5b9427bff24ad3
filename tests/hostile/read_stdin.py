#!/usr/bin/env python3
# Attack: read stdin, hoping for the worker's terminal or pipe. The runner feeds a secret
# string to reelbox's own stdin; the host checks it never reaches the log.
# Contained: stdin is empty (EOF at once) and is not a terminal.
#@include _lib.py
import select
import stat

st = os.fstat(0)
log("stdin: mode %o, isatty %s, -> %s" % (st.st_mode, os.isatty(0), os.readlink("/proc/self/fd/0")))
if os.isatty(0):
    breach("stdin is a terminal")
r, _, _ = select.select([0], [], [], 2.0)
if not r:
    breach("stdin is neither empty nor at EOF: a read would block")
else:
    data = os.read(0, 4096)
    log("read from stdin: %d bytes %r" % (len(data), data[:80]))
    if data:
        breach("stdin delivered %d bytes" % len(data))
finish()
