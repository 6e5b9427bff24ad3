#!/usr/bin/env python3
# Attack: regain root through set-uid binaries of the system (su, mount, passwd, newgrp,
# pkexec, sudo): find them and run them; a privileged mount or "id -u" of 0 is a breach.
# Contained: no_new_privs and nosuid mounts make them run without privilege.
#@include _lib.py
import stat
import subprocess

found = []
for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/lib/dbus-1.0", "/usr/lib/openssh"):
    try:
        for fn in os.listdir(d):
            p = os.path.join(d, fn)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(p)
    except OSError:
        pass
log("setuid/setgid binaries visible: %s" % found)
for p in found:
    try:
        nosuid = bool(os.statvfs(p).f_flag & os.ST_NOSUID)
    except OSError:
        nosuid = None
    log("%s: on a nosuid mount: %s" % (p, nosuid))
os.makedirs(os.path.join(SCRATCH, "mnt"), exist_ok=True)
tries = [["mount", "-t", "tmpfs", "none", os.path.join(SCRATCH, "mnt")],
         ["su", "-c", "id -u"], ["sudo", "-n", "id", "-u"], ["newgrp", "root"], ["pkexec", "id", "-u"]]
for cmd in tries:
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=3)
    except FileNotFoundError:
        log("%s: not installed" % cmd[0])
        continue
    except (OSError, subprocess.TimeoutExpired) as e:
        log("%s: %s" % (cmd[0], e))
        continue
    out = (r.stdout + r.stderr).decode(errors="replace").strip().replace("\n", " | ")[:160]
    log("%s -> status %d: %s" % (" ".join(cmd), r.returncode, out))
    if r.returncode == 0 and (cmd[0] == "mount" or r.stdout.strip() == b"0"):
        breach("%s ran with privilege" % " ".join(cmd))
try:
    with open("/proc/self/mounts") as f:
        if os.path.join(SCRATCH, "mnt") in f.read():
            breach("a tmpfs got mounted on scratch/mnt")
except OSError:
    pass
finish()
