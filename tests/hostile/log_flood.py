#!/usr/bin/env python3
# Attack: flood the log - 64 MiB of stderr in short lines, one 4 MiB line without a
# newline, and terminal escape sequences - to exhaust the worker's memory or disk, or
# to smuggle control codes into a terminal or the JSON summary.
# Contained: the job still succeeds, the summary's log is a bounded tail with no escape
# bytes (the host checks its size and content), and the worker stays responsive.
#@include _lib.py

line = b"flood " + b"x" * 120 + b"\n"
block = line * 8192
sent = 0
while sent < (64 << 20):
    sent += os.write(2, block)
os.write(2, b"\x1b]0;pwned-title\x07\x1b[2J\x1b[31m" + b"y" * (4 << 20) + b"\n")
log("log flood done: %d MiB" % (sent >> 20))
finish()
