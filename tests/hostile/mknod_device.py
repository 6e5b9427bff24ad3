#!/usr/bin/env python3
# Attack: make device nodes in scratch (a block device of the host's disk, /dev/mem,
# /dev/kmsg, /dev/null) to read or write hardware; and FIFOs and sockets in scratch named
# like files a worker would open (a FIFO blocks whoever opens it).
# Contained: mknod of character/block devices fails (EPERM); a FIFO may be created in
# scratch, but the host checks the job still ends in time (the worker never opens it).
#@include _lib.py
import stat

for name, mode, dev in (("sda", stat.S_IFBLK | 0o666, os.makedev(8, 0)),
                        ("mem", stat.S_IFCHR | 0o666, os.makedev(1, 1)),
                        ("kmsg", stat.S_IFCHR | 0o666, os.makedev(1, 11)),
                        ("null", stat.S_IFCHR | 0o666, os.makedev(1, 3)),
                        ("tty", stat.S_IFCHR | 0o666, os.makedev(5, 0))):
    p = os.path.join(SCRATCH, name)
    try:
        os.mknod(p, mode, dev)
        breach("mknod %s (%d,%d) worked" % (name, os.major(dev), os.minor(dev)))
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            breach("and opened it: %r" % os.read(fd, 16))
        except OSError as e:
            log("open %s: %s" % (name, ename(e.errno)))
    except OSError as e:
        log("mknod %s: %s" % (name, ename(e.errno)))
for name in ("output.mp4", "stream", "log", "frames.raw"):
    try:
        os.mkfifo(os.path.join(SCRATCH, name))
        log("mkfifo %s: created in scratch" % name)
    except OSError as e:
        log("mkfifo %s: %s" % (name, ename(e.errno)))
finish()
