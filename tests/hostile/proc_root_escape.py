#!/usr/bin/env python3
# Attack: walk out of the sandbox's root through /proc: /proc/1/root, /proc/<pid>/cwd,
# /proc/self/fd of directories, "..", and the mount namespace of pid 1 - looking for the
# host's root (its /etc/hostname, the project tree, the worker's state dir).
# Contained: every route lands in the sandbox's own root.
#@include _lib.py

me_root = os.stat("/")
for p in ["/proc/1/root", "/proc/self/root", "/proc/%d/root" % os.getppid(),
          "/proc/1/cwd", "/proc/1/cwd/../../..", "/..", "/../../.."]:
    try:
        st = os.stat(p)
        same = (st.st_dev, st.st_ino) == (me_root.st_dev, me_root.st_ino)
        entries = sorted(os.listdir(p))[:20]
        log("%s: dev %d ino %d same-as-/ %s: %s" % (p, st.st_dev, st.st_ino, same, entries))
        for host_only in ("work", "var/tmp/reelbox", "root/.bash_history"):
            if os.path.exists(os.path.join(p, host_only)) and host_only != "var/tmp/reelbox":
                breach("%s/%s exists: the host's root is reachable" % (p, host_only))
    except OSError as e:
        log("%s: %s" % (p, ename(e.errno)))
try:
    os.chdir("/proc/1/root")
    for _ in range(10):
        os.chdir("..")
    st = os.stat(".")
    log("after chdir .. x10 from /proc/1/root: same-as-/ %s" % ((st.st_dev, st.st_ino) == (me_root.st_dev, me_root.st_ino)))
    if os.path.exists("work/main") or os.path.exists("root/.bash_history"):
        breach("chdir(..) from /proc/1/root reached the host's root")
except OSError as e:
    log("chdir /proc/1/root: %s" % ename(e.errno))
os.chdir(SCRATCH)
finish()
