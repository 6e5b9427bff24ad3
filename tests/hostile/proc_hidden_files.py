#!/usr/bin/env python3
# Attack: kernel-wide information leaks in /proc that a container should not see:
# /proc/keys, /proc/kcore, /proc/timer_list, /proc/sched_debug, /proc/kallsyms (kernel
# addresses, the first step of a KASLR bypass), /proc/modules, /proc/kmsg, /proc/sysrq-trigger.
# Contained: each is absent, unreadable, empty or (kallsyms, modules) shows no address.
#@include _lib.py

for p in ("/proc/keys", "/proc/key-users", "/proc/kcore", "/proc/timer_list", "/proc/sched_debug",
          "/proc/kmsg", "/proc/sysrq-trigger", "/proc/latency_stats", "/proc/timer_stats"):
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        log("%s: %s" % (p, ename(e.errno)))
        continue
    try:
        data = os.read(fd, 512)
        if data.strip():
            breach("%s is readable (%d+ bytes): %r" % (p, len(data), data[:60]))
        else:
            log("%s: opened, empty" % p)
    except OSError as e:
        log("%s: read %s" % (p, ename(e.errno)))
        if p == "/proc/kcore":
            breach("/proc/kcore could be opened")
    finally:
        os.close(fd)
for p in ("/proc/kallsyms", "/proc/modules"):
    try:
        with open(p) as f:
            lines = f.readlines()[:2000]
    except OSError as e:
        log("%s: %s" % (p, ename(e.errno)))
        continue
    addrs = [l.split()[0] if p.endswith("kallsyms") else (l.split() + ["0"] * 6)[5] for l in lines]
    nonzero = [a for a in addrs if a.strip("0x") != ""]
    log("%s: %d lines, %d nonzero addresses" % (p, len(lines), len(nonzero)))
    if nonzero:
        breach("%s leaks kernel addresses, e.g. %s" % (p, nonzero[0]))
finish()
