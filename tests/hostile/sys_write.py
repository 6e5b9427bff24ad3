#!/usr/bin/env python3
# Attack: /sys - uevent_helper (a program the kernel runs as root on every uevent: a
# container escape), the kernel's own knobs, firmware and device info, and the cgroup tree
# under /sys/fs/cgroup. Only opens files for writing (never writes).
# Contained: /sys is absent, or read-only and reduced; nothing opens for writing.
#@include _lib.py

if safe_to_fire():
    try:
        log("/sys: %s" % sorted(os.listdir("/sys")))
    except OSError as e:
        log("/sys: %s" % ename(e.errno))
    for p in ("/sys/kernel/uevent_helper", "/sys/kernel/mm/transparent_hugepage/enabled",
              "/sys/power/state", "/sys/class/net/lo/mtu", "/sys/kernel/profiling",
              "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cgroup.procs",
              "/sys/firmware/efi/efivars", "/sys/module/printk/parameters/time"):
        e = try_open(p, os.O_WRONLY)
        if e is None:
            breach("opened %s for writing" % p)
        else:
            log("open %s for writing: %s" % (p, ename(e)))
    for p in ("/sys/firmware/dmi/tables/DMI", "/sys/class/dmi/id/product_uuid", "/sys/kernel/debug"):
        try:
            if os.path.isdir(p):
                log("%s: listing %s" % (p, os.listdir(p)[:5]))
                breach("%s is listable" % p)
            else:
                with open(p, "rb") as f:
                    breach("read %s: %r" % (p, f.read(32)))
        except OSError as e:
            log("%s: %s" % (p, ename(e.errno)))
finish()
