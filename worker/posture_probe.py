#!/usr/bin/env python3
# posture_probe.py - the sandbox seen from the inside, for `reelbox posture` (worker/posture.c).
#
# Embedded in the reelbox binary at build time (cmake/posture_probe.cmake) and run as a
# real job with the python3 runtime: what it reports is what any job gets. It only looks,
# and tries what a script must not be able to do (write outside scratch, open a network
# socket), so the answers are measured, not assumed. posture.c judges the report; this
# file holds no verdicts.
#
# Its conversation with posture.c, all on stderr (the job's log), one line each:
#   POSTURE i/n CHUNK   the report as JSON, cut into pieces that fit a log line
#   POSTURE-END n       the report is complete; the probe now waits (at most 5 s) for
#                       SIGUSR1, sent by posture.c once it has looked at the job from the
#                       host (its processes, cgroup, scratch) while the job still runs
#   POSTURE-NET JSON    then the network attempts, each a denied call that the worker names
#                       in the job's log just before this line (the audit trail)
# and one frame on stdout, so the job succeeds. Everything it writes is ASCII JSON.
import json
import os
import resource
import signal
import socket
import stat
import sys

# Blocked from the start: a SIGUSR1 that comes before the wait is kept pending, not lost.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

# Descriptors first, before anything else is opened; the listing's own one is gone by
# the time readlink asks.
fds = []
for name in os.listdir("/proc/self/fd"):
    try:
        fds.append([int(name), os.readlink("/proc/self/fd/" + name)])
    except OSError:
        pass
fds.sort()


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return "error:" + (os.strerror(e.errno) if e.errno else str(e))


status = {}
for line in read("/proc/self/status").splitlines():
    k, _, v = line.partition(":")
    status[k] = v.strip()

ns = {}
for n in ("user", "pid", "mnt", "net", "ipc", "uts", "cgroup"):
    try:
        ns[n] = os.readlink("/proc/self/ns/" + n)
    except OSError as e:
        ns[n] = "error:%d" % e.errno

# mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source super
mounts = []
for line in read("/proc/self/mountinfo").splitlines():
    left, _, right = line.partition(" - ")
    l, r = left.split(), right.split()
    if len(l) < 6 or not r:
        continue
    opts = [o for o in l[5].split(",") if o in ("ro", "rw", "nosuid", "nodev", "noexec")]
    mounts.append([l[4], l[3], r[0], ",".join(opts)])

rlimits = {}
for name in ("CORE", "NOFILE", "NPROC", "FSIZE", "CPU", "AS", "DATA", "SIGPENDING", "MSGQUEUE"):
    soft, hard = resource.getrlimit(getattr(resource, "RLIMIT_" + name))
    rlimits[name.lower()] = [-1 if soft == resource.RLIM_INFINITY else soft,
                             -1 if hard == resource.RLIM_INFINITY else hard]


def errname(e):
    import errno
    return errno.errorcode.get(e.errno, str(e.errno))


# Writes outside scratch must fail: the system is read-only everywhere else.
writes = {}
for d in ("/", "/usr", "/etc", "/job", "/dev"):
    p = os.path.join(d, ".reelbox-posture")
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(p)
        writes[d] = "WRITABLE"
    except OSError as e:
        writes[d] = errname(e)

# Scratch is the one writable place; the marker lets posture.c see it from the host
# while the job runs (and find it gone with the job).
scratch = os.environ.get("SCRATCH", "/scratch")
marker = "reelbox-posture-marker"
try:
    with open(os.path.join(scratch, marker), "w") as f:
        f.write("posture\n")
    sv = os.statvfs(scratch)
    scratch_info = {"dir": scratch, "marker": marker, "bytes": sv.f_blocks * sv.f_frsize, "inodes": sv.f_files,
                    "tmp_is_scratch": os.path.exists(os.path.join("/tmp", marker)),
                    "shm_is_scratch": os.path.exists(os.path.join("/dev/shm", marker))}
except OSError as e:
    scratch_info = {"error": errname(e)}

# Host paths a job must not see at all.
host_paths = {}
for p in ("/root", "/home", "/var", "/run", "/srv", "/mnt", "/opt", "/boot", "/etc/shadow",
          "/etc/ssh", "/var/tmp/reelbox", "/sys", "/etc/resolv.conf"):
    host_paths[p] = "present" if os.path.lexists(p) else "absent"

devs = []
for dirpath, dirs, files in os.walk("/dev"):
    for fn in dirs + files:
        p = os.path.join(dirpath, fn)
        try:
            mode = os.lstat(p).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                devs.append(p[5:])
        except OSError:
            pass

try:
    with open("/proc/net/dev") as f:
        ifaces = [l.split(":")[0].strip() for l in f.readlines()[2:]]
except OSError:
    ifaces = ["?"]

pid1_environ = read("/proc/1/environ")
# The names only, when it can be read (gVisor's Sentry shows it): are they the job's own?
pid1_env_names = sorted({x.split("=", 1)[0] for x in pid1_environ.split("\0") if "=" in x})
report = {
    "uid": status.get("Uid", "?").split(), "gid": status.get("Gid", "?").split(),
    "groups": os.getgroups(),
    "uid_map": read("/proc/self/uid_map").split(), "gid_map": read("/proc/self/gid_map").split(),
    "cap": {k: status.get(k, "?") for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "seccomp": status.get("Seccomp", "?"), "seccomp_filters": status.get("Seccomp_filters", "?"),
    "nnp": status.get("NoNewPrivs", "?"),
    "ns": ns, "mounts": mounts, "writes": writes, "scratch": scratch_info,
    "host_paths": host_paths, "dev": sorted(devs), "ifaces": ifaces, "fds": fds,
    "env": sorted(os.environ), "pid1_env_names": pid1_env_names, "pid1_environ": "unreadable" if pid1_environ.startswith("error:")
    else "readable",
    "rlimit": rlimits, "pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(),
    "umask": "%04o" % os.umask(0o077),
}
os.umask(int(report["umask"], 8))

text = json.dumps(report, separators=(",", ":"), sort_keys=True)
chunks = [text[i:i + 900] for i in range(0, len(text), 900)]
for i, c in enumerate(chunks):
    print("POSTURE %d/%d %s" % (i + 1, len(chunks), c), file=sys.stderr, flush=True)
print("POSTURE-END %d" % len(chunks), file=sys.stderr, flush=True)
# The gvisor tier's host cannot signal a task of gVisor's Sentry: it removes the marker
# from scratch instead.
looked = False
marker_path = os.path.join(scratch, marker)
for _ in range(250):
    if signal.sigtimedwait({signal.SIGUSR1}, 0.02) is not None or not os.path.exists(marker_path):
        looked = True
        break

# In gVisor a socket is the Sentry's own netstack (a loopback only): try to reach out.
def reach_out(fam):
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError as e:
        return "no socket: " + errname(e)
    s.settimeout(1.0)
    try:
        s.connect(("192.0.2.1", 80) if fam == socket.AF_INET else ("2001:db8::1", 80))
        return "CONNECTED"
    except OSError as e:
        return errname(e) if e.errno else "timeout"
    finally:
        s.close()

# The network, last: each attempt is a denied call the worker names in the log, so the
# log's tail ends with them.
net = {"host_looked": looked}
for fam, typ in (("AF_INET", "SOCK_STREAM"), ("AF_INET6", "SOCK_STREAM"),
                 ("AF_NETLINK", "SOCK_RAW"), ("AF_PACKET", "SOCK_RAW")):
    try:
        s = socket.socket(getattr(socket, fam), getattr(socket, typ))
        s.close()
        net[fam] = "CREATED"
    except OSError as e:
        net[fam] = errname(e)
net["connect_inet"] = reach_out(socket.AF_INET)
net["connect_inet6"] = reach_out(socket.AF_INET6)
print("POSTURE-NET " + json.dumps(net, separators=(",", ":"), sort_keys=True), file=sys.stderr,
      flush=True)

w, h = int(os.environ.get("WIDTH", "64")), int(os.environ.get("HEIGHT", "48"))
frames = int(os.environ.get("FRAMES", "1"))
os.write(1, b"\x30" * (w * h * 3) * frames)
