#!/usr/bin/env python3
# posture.py - report the sandbox's posture from the inside, as gVisor's tests check
# their own sandbox: ids, capability sets, seccomp, no_new_privs, namespaces, the mount
# table with its flags, open descriptors, umask, session, rlimits, environment, /dev,
# network interfaces. tests/it_posture.sh compares the report with its expected table.
#
# Two modes:
#   as a job (reelbox run):  the report goes to stderr (the job log) as lines
#                            "POSTURE <i>/<n> <chunk>" short enough for the log tail, and
#                            one valid frame goes to stdout so the job succeeds;
#   with --stdout (reelbox exec -- python3 -c "$(cat posture.py)" --stdout): the report
#                            is printed to stdout as one JSON object.
# It only reads; it changes nothing but its own umask, which it restores. At its end it
# holds on for a second, so that it_posture.sh can look at the sandbox from the host.
import json
import os
import resource
import stat
import sys
import time

to_stdout = "--stdout" in sys.argv[1:]
# Open descriptors first, before Python or this script opens anything else; the listing's
# own descriptor is the one that shows up as the directory being listed.
fds = []
for name in os.listdir("/proc/self/fd"):
    try:
        fds.append([int(name), os.readlink("/proc/self/fd/" + name)])
    except OSError:
        pass  # the listing's own descriptor, closed by now
fds.sort()


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


st = status()
uids = st["Uid"].split()
gids = st["Gid"].split()
mask = os.umask(0o077)
os.umask(mask)

with open("/proc/self/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
# after the comm: state ppid pgrp session tty_nr tpgid
ppid, pgrp, session, tty_nr = int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])

ns = {}
for n in ("user", "pid", "mnt", "net", "ipc", "uts", "cgroup", "time"):
    try:
        ns[n] = os.readlink("/proc/self/ns/" + n)
    except OSError as e:
        ns[n] = "error:%d" % e.errno

# mountinfo: id parent major:minor root mountpoint mount-options [optional...] - fstype source super-options
mounts = []
with open("/proc/self/mountinfo") as f:
    for line in f:
        left, _, right = line.partition(" - ")
        l, r = left.split(), right.split()
        opts = [o for o in l[5].split(",") if o in ("ro", "rw", "nosuid", "nodev", "noexec")]
        sro = "ro" in r[2].split(",") if len(r) > 2 else False
        mounts.append([l[4], l[3], r[0], ",".join(opts) + (",sro" if sro else "")])

rl = {}
for name in ("CORE", "NOFILE", "NPROC", "FSIZE", "CPU", "AS", "MEMLOCK", "STACK", "SIGPENDING",
             "MSGQUEUE"):
    soft, hard = resource.getrlimit(getattr(resource, "RLIMIT_" + name))
    rl[name.lower()] = [-1 if soft == resource.RLIM_INFINITY else soft,
                        -1 if hard == resource.RLIM_INFINITY else hard]

devs = []
for dirpath, dirs, files in os.walk("/dev"):
    for fn in dirs + files:
        p = os.path.join(dirpath, fn)
        try:
            if stat.S_ISCHR(os.lstat(p).st_mode) or stat.S_ISBLK(os.lstat(p).st_mode):
                devs.append(p[5:])
        except OSError:
            pass

try:
    with open("/proc/net/dev") as f:
        ifaces = [l.split(":")[0].strip() for l in f.readlines()[2:]]
except OSError:
    ifaces = ["?"]

try:
    with open("/proc/1/environ", "rb") as f:
        f.read(1)
    pid1_environ = "readable"
except OSError as e:
    pid1_environ = "unreadable (%s)" % os.strerror(e.errno)

report = {
    "uid": uids, "gid": gids, "groups": os.getgroups(),
    "cap": {k: st.get(k, "?") for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "seccomp": st.get("Seccomp", "?"), "seccomp_filters": st.get("Seccomp_filters", "?"),
    "nnp": st.get("NoNewPrivs", "?"),
    "ns": ns,
    "mounts": mounts,
    "fds": fds,
    "umask": "%04o" % mask,
    "pid": os.getpid(), "ppid": ppid, "pgrp": pgrp, "sid": session, "tty_nr": tty_nr,
    "rlimit": rl,
    "env": sorted(os.environ),
    "cwd": os.getcwd(), "scratch": os.environ.get("SCRATCH", ""),
    "dev": sorted(devs),
    "ifaces": ifaces,
    "pid1_environ": pid1_environ,
}
text = json.dumps(report, separators=(",", ":"))
if to_stdout:
    print(text, flush=True)
    time.sleep(1)
    sys.exit(0)
chunks = [text[i:i + 800] for i in range(0, len(text), 800)]
for i, c in enumerate(chunks):
    print("POSTURE %d/%d %s" % (i + 1, len(chunks), c), file=sys.stderr, flush=True)
w, h = int(os.environ.get("WIDTH", "64")), int(os.environ.get("HEIGHT", "48"))
frames = int(os.environ.get("FRAMES", "1"))
os.write(1, b"\x40" * (w * h * 3) * frames)
time.sleep(1)
