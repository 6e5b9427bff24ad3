#!/usr/bin/env python3
# Attack: read the memory of other processes through /proc/<pid>/mem and
# /proc/<pid>/maps: pid 1 (the sandbox's init, which the worker started) and the parent.
# Contained: EACCES/EPERM/ENOENT for every process that is not the script itself.
#@include _lib.py

me = os.getpid()
targets = {1, os.getppid()} | {int(p) for p in os.listdir("/proc") if p.isdigit()}
targets.discard(me)
targets.discard(0)
for pid in sorted(targets):
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read().splitlines()
        log("/proc/%d/maps: readable, %d lines" % (pid, len(maps)))
        first = next((l for l in maps if "r" in l.split()[1][:1]), None)
    except OSError as e:
        log("/proc/%d/maps: %s" % (pid, ename(e.errno)))
        first = None
    try:
        fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    except OSError as e:
        log("/proc/%d/mem: %s" % (pid, ename(e.errno)))
        continue
    try:
        if first:
            start = int(first.split("-")[0], 16)
            data = os.pread(fd, 64, start)
            breach("read %d bytes of pid %d's memory at %#x" % (len(data), pid, start))
        else:
            breach("opened /proc/%d/mem" % pid)
    except OSError as e:
        log("/proc/%d/mem read: %s" % (pid, ename(e.errno)))
        if pid == 1:
            breach("opened /proc/1/mem (read failed: %s)" % ename(e.errno))
    finally:
        os.close(fd)
finish()
