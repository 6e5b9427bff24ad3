#!/usr/bin/env python3
# Attack: the cgroup file system - raise our own memory/pids limits, move ourselves into
# the root cgroup (out of the job's limits), set release_agent (CVE-2022-0492: a program
# the kernel runs as root on the host when a cgroup empties), and mount a fresh cgroup
# hierarchy to do it. The release_agent payload would create a marker file on the host.
# Contained: no cgroup file opens for writing and no cgroup fs mounts; the host checks
# release_agent is unchanged and no marker file appeared.
#@include _lib.py

if safe_to_fire():
    try:
        with open("/proc/self/cgroup") as f:
            log("/proc/self/cgroup: %s" % f.read().strip().replace("\n", " ; ")[:400])
    except OSError as e:
        log("/proc/self/cgroup: %s" % ename(e.errno))
    cands = []
    for top in ("/sys/fs/cgroup",):
        for dirpath, dirs, files in os.walk(top):
            if dirpath.count("/") > 6:
                dirs[:] = []
            for fn in files:
                if fn in ("cgroup.procs", "tasks", "release_agent", "notify_on_release", "memory.max",
                          "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "pids.max",
                          "cpu.cfs_quota_us", "cpu.max", "cgroup.subtree_control"):
                    cands.append(os.path.join(dirpath, fn))
    log("cgroup control files visible: %d" % len(cands))
    for p in cands[:400]:
        e = try_open(p, os.O_WRONLY)
        if e is None:
            breach("opened %s for writing" % p)
        elif e not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT):
            log("open %s: %s" % (p, ename(e)))
    mnt = os.path.join(SCRATCH, "cg")
    os.makedirs(mnt, exist_ok=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    for fstype, data in ((b"cgroup", b"memory"), (b"cgroup", b"rdma"), (b"cgroup", b"none,name=x"), (b"cgroup2", None)):
        ctypes.set_errno(0)
        r = libc.mount(b"cgroup", mnt.encode(), fstype, 0, data)
        if r == 0:
            breach("mounted %s (%s) on scratch" % (fstype.decode(), data))
            ra = os.path.join(mnt, "release_agent")
            if os.path.exists(ra):
                breach("release_agent is reachable at %s" % ra)
            libc.umount2(mnt.encode(), 2)
        else:
            log("mount %s %s: %s" % (fstype.decode(), data, ename(ctypes.get_errno())))
finish()
