#!/usr/bin/env python3
# Attack: well-known secret files of the host: shadow, ssh keys, root's and users' homes,
# cloud credentials, the worker's config and state dir, the project source tree.
# Contained: none is readable; /root and /home show nothing of the host.
#@include _lib.py
import glob

cands = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root/.ssh/id_rsa", "/root/.ssh/authorized_keys",
         "/root/.bash_history", "/root/.aws/credentials", "/root/.docker/config.json",
         "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key", "/etc/reelbox.json",
         "/etc/redis/redis.conf", "/work/main/CMakeLists.txt", "/work/shared/CONTRACT.md",
         "/proc/1/root/etc/shadow"]
cands += glob.glob("/home/*/.ssh/*") + glob.glob("/root/*") + glob.glob("/var/tmp/reelbox/*")
for p in cands:
    try:
        with open(p, "rb") as f:
            data = f.read(64)
        if p.startswith("/etc/ssh/") or p.startswith("/etc/shadow") or p.startswith("/etc/gshadow") \
                or "/.ssh/" in p or "/.aws/" in p or p.startswith("/root") or p.startswith("/work") \
                or p.startswith("/var/tmp/reelbox") or p.startswith("/proc/1/root/etc/shadow") \
                or p.startswith("/etc/sudoers") or "/.docker/" in p:
            breach("read secret file %s (%d bytes)" % (p, len(data)))
        else:
            log("readable: %s" % p)
    except OSError as e:
        log("%s: %s" % (p, ename(e.errno)))
for d in ("/root", "/home", "/work", "/var/tmp/reelbox"):
    try:
        entries = os.listdir(d)
        log("listdir %s: %s" % (d, entries[:10]))
        if entries and d != "/home":
            breach("host directory %s is visible: %s" % (d, entries[:5]))
        for e in entries if d == "/home" else []:
            try:
                if os.listdir(os.path.join(d, e)):
                    breach("host home directory %s/%s is visible" % (d, e))
            except OSError as err:
                log("listdir %s/%s: %s" % (d, e, ename(err.errno)))
    except OSError as e:
        log("listdir %s: %s" % (d, ename(e.errno)))
finish()
