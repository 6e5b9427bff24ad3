#!/usr/bin/env python3
# Attack: the runc CVE-2019-5736 class - open /proc/<pid>/exe of pid 1 (the sandbox's init,
# which the worker executed), of the parent and of the script itself for writing, to
# overwrite the binary that runs on the host. Also via O_PATH and a reopen through
# /proc/self/fd/N, and by replacing the interpreter through its path.
# Contained: every open for writing fails (ETXTBSY/EACCES/EROFS/ENOENT); the host checks
# the sha256 of the reelbox binary and of python3 are unchanged.
#@include _lib.py

me = os.getpid()
pids = sorted({1, os.getppid(), me} | {int(p) for p in os.listdir("/proc") if p.isdigit()})
for pid in pids:
    path = "/proc/%d/exe" % pid
    try:
        log("%s -> %s" % (path, os.readlink(path)))
    except OSError as e:
        log("readlink %s: %s" % (path, ename(e.errno)))
    for flags, label in ((os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR"),
                         (os.O_WRONLY | os.O_APPEND, "O_APPEND")):
        e = try_open(path, flags)
        if e is None:
            breach("opened %s with %s" % (path, label))
        else:
            log("open %s %s: %s" % (path, label, ename(e)))
    try:
        fd = os.open(path, os.O_PATH)
        e = try_open("/proc/self/fd/%d" % fd, os.O_WRONLY)
        os.close(fd)
        if e is None:
            breach("reopened %s for writing through an O_PATH fd" % path)
        else:
            log("reopen %s via O_PATH for writing: %s" % (path, ename(e)))
    except OSError as e:
        log("O_PATH %s: %s" % (path, ename(e.errno)))
for target in ("/usr/bin/python3", os.path.realpath("/usr/bin/python3"), "/bin/sh", "/usr/bin/ffmpeg"):
    e = try_open(target, os.O_WRONLY)
    if e is None:
        breach("opened %s for writing" % target)
    else:
        log("open %s O_WRONLY: %s" % (target, ename(e)))
finish()
