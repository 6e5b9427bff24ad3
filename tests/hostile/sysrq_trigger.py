#!/usr/bin/env python3
# Attack: /proc/sysrq-trigger - one byte reboots, crashes or freezes the host ("b", "c",
# "o"). This script only ever writes "h" (print the help text to the kernel log), so a
# breach is harmless but visible: the host checks dmesg gained no sysrq line.
# Contained: the file is absent or cannot be opened for writing.
#@include _lib.py

if safe_to_fire():
    for p in ("/proc/sysrq-trigger", "/proc/1/root/proc/sysrq-trigger"):
        try:
            fd = os.open(p, os.O_WRONLY)
        except OSError as e:
            log("open %s for writing: %s" % (p, ename(e.errno)))
            continue
        try:
            os.write(fd, b"h")
            breach("wrote to %s" % p)
        except OSError as e:
            breach("opened %s for writing (write: %s)" % (p, ename(e.errno)))
        os.close(fd)
    try:
        with open("/proc/sys/kernel/sysrq") as f:
            log("kernel.sysrq: %s" % f.read().strip())
    except OSError as e:
        log("kernel.sysrq: %s" % ename(e.errno))
finish()
