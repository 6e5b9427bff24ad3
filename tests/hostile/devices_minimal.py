#!/usr/bin/env python3
# Attack: reconnaissance of /dev - disks, /dev/mem, /dev/kmsg, /dev/tty, /dev/console,
# /dev/fuse, /dev/kvm, /dev/net/tun, /dev/userfaultfd, /dev/loop-control.
# Contained: the only device nodes are null, zero, full, random and urandom.
#@include _lib.py
import stat

ALLOWED = {"null", "zero", "full", "random", "urandom"}
devs = []
for dirpath, dirs, files in os.walk("/dev"):
    for fn in files + dirs:
        p = os.path.join(dirpath, fn)
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            devs.append((p, os.major(st.st_rdev), os.minor(st.st_rdev)))
log("device nodes: %s" % devs)
extra = [d for d in devs if d[0][5:] not in ALLOWED]
if extra:
    sentry_answer("device nodes beyond null/zero/full/random/urandom: %s" % [d[0] for d in extra])
for p in ("/dev/mem", "/dev/kmsg", "/dev/sda", "/dev/vda", "/dev/tty", "/dev/console", "/dev/kvm", "/dev/fuse",
          "/dev/net/tun", "/dev/userfaultfd", "/dev/loop-control", "/dev/ptmx", "/dev/pts/ptmx"):
    e = try_open(p, os.O_RDWR | os.O_NONBLOCK)
    if e is None and p in ("/dev/fuse", "/dev/net/tun", "/dev/tty", "/dev/ptmx", "/dev/pts/ptmx"):
        sentry_answer("opened %s read-write" % p)  # gVisor's own devices
    elif e is None:
        breach("opened %s read-write" % p)
    else:
        log("open %s: %s" % (p, ename(e)))
finish()
