#!/usr/bin/env python3
# Attack: see the host's processes (the worker, redis, other jobs) in /proc. The runner
# keeps a sentinel process with a unique name alive on the host during the run.
# Contained: /proc shows only the job's own processes: the sentinel, redis-server and
# the worker are invisible, and every visible process descends from our pid 1.
#@include _lib.py

pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
log("visible pids (%d): %s" % (len(pids), pids[:30]))
seen = {}
for pid in pids:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open("/proc/%d/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        continue
    seen[pid] = (ppid, cmd)
    log("  %d (ppid %d): %s" % (pid, ppid, cmd[:100]))
    if SENTINEL in cmd:
        breach("the host's sentinel process is visible as pid %d" % pid)
    if "redis-server" in cmd or "reelbox " in cmd or "systemd" in cmd or "sshd" in cmd:
        breach("a host process is visible: %d %s" % (pid, cmd[:60]))
for pid, (ppid, cmd) in seen.items():
    p, hops = pid, 0
    while p != 1 and p in seen and hops < 64:
        p, hops = seen[p][0], hops + 1
    if p != 1:
        breach("pid %d (%s) does not descend from the sandbox's pid 1" % (pid, cmd[:40]))
if 1 in seen and ("python" in seen[1][1] and "/job/" in seen[1][1]):
    log("note: the script itself is pid 1")
finish()
