#!/usr/bin/env python3
# Attack: write anywhere but the scratch dir: /, /etc, /usr, /bin, /tmp, /var/tmp,
# /dev/shm, /root, /home, /run, /job, /proc/self, the worker's state dir and the project
# dir, each file named after the run's marker so the host can look for it.
# Contained: every write fails, except ones that land on the scratch file system itself
# (e.g. a /tmp that is the scratch dir; in the gvisor tier a second mount of it, on a
# device of its own, whose files show in scratch); the host checks no file with the
# marker appeared in any of those places on the host.
#@include _lib.py

scratch_dev = os.stat(SCRATCH).st_dev


def on_scratch(dev, name):
    """The file system scratch is on: its device, or (the gvisor tier's second mount of
    scratch on /tmp) the same file seen in scratch."""
    return dev == scratch_dev or os.path.lexists(os.path.join(SCRATCH, name))


dirs = ["/", "/etc", "/usr", "/usr/local/bin", "/bin", "/lib", "/tmp", "/var/tmp", "/var/tmp/reelbox",
        "/dev", "/dev/shm", "/root", "/home", "/run", "/var/run", "/job", "/proc", "/sys", "/opt",
        "/work/main", "/work/main/tests/hostile", "/srv", "/mnt", "/media", "/var/log", "/var/lib"]
for d in dirs:
    p = os.path.join(d, "hostile-%s-write" % MARKER)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        log("create %s: %s" % (p, ename(e.errno)))
        continue
    os.write(fd, b"written by a job\n")
    dev = os.fstat(fd).st_dev
    os.close(fd)
    if on_scratch(dev, os.path.basename(p)):
        log("create %s: worked, but on the scratch file system" % p)
    else:
        breach("created %s (device %#x, scratch is %#x)" % (p, dev, scratch_dev))
    try:
        os.unlink(p)
    except OSError:
        pass
for d in dirs:
    try:
        os.mkdir(os.path.join(d, "hostile-%s-dir" % MARKER))
        if not on_scratch(os.stat(d).st_dev, "hostile-%s-dir" % MARKER):
            breach("mkdir in %s worked" % d)
    except OSError as e:
        pass
finish()
