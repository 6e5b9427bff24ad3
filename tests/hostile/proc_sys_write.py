#!/usr/bin/env python3
# Attack: kernel tunables under /proc/sys: core_pattern (the classic container escape:
# a pipe to a program run as host root), modprobe, hotplug, and a harmless knob,
# kernel/printk_ratelimit_burst, which it really tries to change (the host compares its
# value before and after and restores it if needed). Others are only opened for writing.
# Contained: /proc/sys is read-only (EROFS/EACCES/EPERM).
#@include _lib.py

if safe_to_fire():
    knob = "/proc/sys/kernel/printk_ratelimit_burst"
    try:
        with open(knob) as f:
            old = int(f.read().strip())
        log("%s = %d" % (knob, old))
        try:
            with open(knob, "w") as f:
                f.write(str(old + 7))
            breach("wrote %s" % knob)
        except OSError as e:
            log("write %s: %s" % (knob, ename(e.errno)))
    except OSError as e:
        log("read %s: %s" % (knob, ename(e.errno)))
    for p in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hotplug",
              "/proc/sys/vm/drop_caches", "/proc/sys/kernel/panic", "/proc/sys/net/ipv4/ip_forward",
              "/proc/sys/kernel/hostname", "/proc/sys/user/max_user_namespaces"):
        e = try_open(p, os.O_WRONLY)
        if e is None and not p.endswith("/hostname"):
            breach("opened %s for writing" % p)
        elif e is None:
            log("opened %s for writing (uts-namespaced)" % p)
        else:
            log("open %s for writing: %s" % (p, ename(e)))
finish()
