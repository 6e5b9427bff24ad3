#!/usr/bin/env python3
# Attack: hard links from scratch to files outside it (the script under /job, the
# interpreter, /etc/passwd, a canary), directly and through /proc/self/fd with
# AT_EMPTY_PATH/AT_SYMLINK_FOLLOW, so that a worker writing "into scratch" or a purge
# would touch the host file; and a link to /proc/1/exe.
# Contained: every cross-tree link fails (EXDEV/EPERM/ENOENT); the host checks the
# victim file and canaries are intact and their link counts unchanged.
#@include _lib.py

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_FOLLOW = 0x400
libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
srcs = [os.path.realpath(sys.argv[0]), "/usr/bin/python3", "/etc/passwd", "/proc/1/exe",
        VICTIM + "/keep.txt"] + CANARIES
for i, src in enumerate(srcs):
    dst = os.path.join(SCRATCH, "hl%d" % i)
    try:
        os.link(src, dst, follow_symlinks=True)
        st = os.stat(dst)
        if st.st_dev == os.stat(SCRATCH).st_dev:
            log("link %s: on scratch (a file in scratch)" % src)
        else:
            breach("hard link to %s created in scratch" % src)
    except OSError as e:
        log("link %s: %s" % (src, ename(e.errno)))
    try:
        fd = os.open(src, os.O_RDONLY)
    except OSError as e:
        log("open %s: %s" % (src, ename(e.errno)))
        continue
    ctypes.set_errno(0)
    r = libc.linkat(fd, b"", AT_FDCWD, (dst + "e").encode(), AT_EMPTY_PATH)
    log("linkat(AT_EMPTY_PATH) %s: %s" % (src, "ok" if r == 0 else ename(ctypes.get_errno())))
    r2 = libc.linkat(AT_FDCWD, ("/proc/self/fd/%d" % fd).encode(), AT_FDCWD, (dst + "p").encode(), AT_SYMLINK_FOLLOW)
    log("linkat(/proc/self/fd, FOLLOW) %s: %s" % (src, "ok" if r2 == 0 else ename(ctypes.get_errno())))
    for r_, suffix in ((r, "e"), (r2, "p")):
        if r_ == 0 and os.stat(dst + suffix).st_dev != os.stat(SCRATCH).st_dev:
            breach("linkat%s made a hard link to %s" % (suffix, src))
    os.close(fd)
finish()
