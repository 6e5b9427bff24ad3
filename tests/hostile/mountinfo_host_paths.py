#!/usr/bin/env python3
# Attack: read /proc/self/mountinfo for the host's layout. A bind mount's line names the
# root of the mount inside its file system: a bind of the per-job state dir showed
# /var/tmp/reelbox/sb-<worker pid>-<start time>-<seq>, the worker's pid and where the
# host keeps jobs.
# Contained: no line names the state dir, the runner's work dir or any sb-<pid> name;
# every mount's root is "/" or the path the script sees it at (a system bind such as
# /usr, shown under its own name), and /job's root is "/".
#@include _lib.py
import re

lines = open("/proc/self/mountinfo").read().splitlines()
log("%d mounts" % len(lines))
for line in lines:
    left, _, right = line.partition(" - ")
    f = left.split()
    root, mp = f[3], f[4]
    src = right.split()[1] if len(right.split()) > 1 else ""
    if BAIT_DIR != "/tmp" and BAIT_DIR in line:
        breach("mountinfo names the host's work dir %s: %s" % (BAIT_DIR, line[:160]))
    if "/var/tmp/reelbox" in line or re.search(r"sb-\d+-\d+-\d+", line):
        breach("mountinfo names a host state dir: %s" % line[:160])
    # a device node under /dev is bound from devtmpfs's /null, /zero ...
    dev_ok = mp.startswith("/dev/") and root == mp[4:]
    if root not in ("/", mp) and not dev_ok:
        breach("%s is a bind of host path %s (source %s)" % (mp, root, src))
    if mp == "/job" and root != "/":
        breach("/job shows its host root %s" % root)
if not any(l.split()[4] == "/job" for l in lines):
    breach("no /job mount at all")
finish()
