#!/usr/bin/env bash
# it_posture.sh - compare the live sandbox with its expected posture, in one table.
#
# tests/hostile/posture.py runs as a job (`reelbox run`, what a script really gets) and
# reports from the inside: ids, capability sets, seccomp, no_new_privs, namespaces, the
# mount table with its flags, descriptors, umask, session, rlimits, environment, /dev.
# The EXPECTED table below is the single place that says what the sandbox must look like;
# the host's own namespaces (read here, outside) are the reference for "distinct".
#
# Usage: tests/it_posture.sh [--via exec]    (exec: `reelbox exec -- python3 -c ...`)
# Env:   REELBOX_BIN (build/reelbox), REELBOX_SOURCE_DIR (.), REELBOX_TIER=gvisor: the job
#        runs in the gvisor tier and the GVISOR table below replaces the rows gVisor answers
#        differently, each with the equivalent that is checked instead and why
#        (tests/it_posture_gvisor.sh)
# Prints: field | expected | observed | ok, then "N passed, M failed"; exits 1 on a failure.
set -uo pipefail

SRC=$(cd "${REELBOX_SOURCE_DIR:-.}" && pwd)
BIN=${REELBOX_BIN:-build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PY=/usr/bin/python3
VIA=run
[ "${1:-}" = --via ] && VIA=${2:-run}
TIER=${REELBOX_TIER:-native}
TIER_OPTS=()
[ "$TIER" = native ] || TIER_OPTS=(--tier "$TIER")

die() { echo "it_posture: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no reelbox binary at $BIN (set REELBOX_BIN)"
command -v jq >/dev/null || die "jq is required"

# field                    expected            meaning of the expectation
EXPECTED=$(cat <<'TABLE'
uid.real                   1000
uid.effective              1000
uid.saved                  1000
uid.fs                     1000
gid.real                   1000
gid.effective              1000
gid.saved                  1000
gid.fs                     1000
groups.supplementary       (none)
cap.CapInh                 0000000000000000
cap.CapPrm                 0000000000000000
cap.CapEff                 0000000000000000
cap.CapBnd                 0000000000000000
cap.CapAmb                 0000000000000000
seccomp.mode               2
seccomp.filters            >=1
no_new_privs               1
ns.user                    !=host
ns.pid                     !=host
ns.mnt                     !=host
ns.net                     !=host
ns.ipc                     !=host
ns.uts                     !=host
ns.cgroup                  !=host
userns.owner               job-host-uid
mount./                    ro
mount./scratch             rw tmpfs
mount./job                 ro
mount./proc                proc
mount.nosuid_missing       (none)
mount.nodev_missing        (none)
mount.host_private         (none)
fds                        0 1 2
fd.0                       /dev/null
umask.group_other_write    masked
session.sid                pid-or-1
session.pgrp               pid-or-1
session.tty                (none)
rlimit.core                0/0
rlimit.sigpending          64/64
rlimit.msgqueue            0/0
rlimit.nofile.hard         finite
rlimit.nproc.hard          finite
rlimit.fsize.hard          finite
env.names                  FPS FRAMES HEIGHT HOME LANG PATH PIX_FMT PYTHONDONTWRITEBYTECODE PYTHONUNBUFFERED SCRATCH WIDTH
env.names.exec             HOME LANG PATH SCRATCH
cwd                        $SCRATCH
dev.nodes                  full null random urandom zero
net.interfaces             lo-or-hidden
pid1.environ               unreadable
TABLE
)
# The gvisor tier: the script's system calls are answered by gVisor's Sentry, so some rows
# read the Sentry's answer, not the host kernel's. Each such row is replaced by what keeps
# the same promise there: "field  =other expected  why" judges field by other (sentry.*:
# the Sentry's process as the host sees it, found under reelbox's runsc), or
# "field  expected  why" changes only the expectation.
GVISOR=$(cat <<'TABLE'
cap.CapAmb            ?                        the Sentry prints no CapAmb line; the OCI spec's ambient set is empty
seccomp.mode          =sentry.seccomp 2        inside, Seccomp is the Sentry's answer (0); the host kernel filters the Sentry
seccomp.filters       =sentry.filters >=1      the same, on the host
no_new_privs          =sentry.nnp 1            the Sentry shows no NoNewPrivs line; on the host it has it
ns.mnt                =sentry.ns.mnt !=host    the Sentry has no mnt/ipc/uts/cgroup ns files inside; its own on the host
ns.ipc                =sentry.ns.ipc !=host    as above
ns.uts                =sentry.ns.uts !=host    as above
ns.cgroup             error:2                  no cgroup ns file inside; no host cgroupfs is mounted inside (hostile cgroupfs_write)
userns.owner          =sentry.uid unprivileged-own-userns   the host sees the Sentry: a non-root uid in a user namespace of its own
mount./scratch        rw 9p                    the gofer serves scratch from the worker's size-limited tmpfs
mount.nosuid_missing  =sentry.nnp 1            the Sentry's mount table shows no flags; execve gains nothing under no_new_privs
mount.nodev_missing   =dev.sentry_only yes     the same; no host device is behind the Sentry's /dev (dev.nodes)
mount.host_private    /tmp(from /)             /tmp is scratch bound again (sandbox/gvisor.c), not the host's /tmp
fd.0                  host-fd                  the Sentry shows the donated stdin (the worker's /dev/null) as host:[N]
rlimit.sigpending     0/0                      queued signals are the Sentry's own memory, not the host's budget
dev.nodes             full fuse net/tun null pts/ptmx random tty urandom zero   the Sentry's own devices
pid1.environ          readable                 the Sentry shows reelbox-init's environ whatever its dumpable flag: the job's own (hostile secrets_proc_environ checks it holds no secret)
TABLE
)

# Notes on the less obvious rows:
#  mount.nodev_missing: the five device nodes under /dev are bind mounts that must allow
#    devices; every other mount must be nodev.
#  userns.owner: the owner of the job's user namespace, read from the host (ioctl
#    NS_GET_OWNER_UID on /proc/<pid>/ns/user of the sandbox's pid 1), is the job's own host
#    uid (its real uid as the host sees it: 1500000 + slot when reelbox is root), not 0:
#    the kernel charges the namespace's per-user counts (inotify, queued signals) to it.
#  mount.host_private: mounts whose mount point or source is /root, /home, /run, /var/run,
#    /work, /tmp or the state dir /var/tmp/reelbox of the host (a /tmp that is a fresh tmpfs
#    is fine: its source is "/"); /job is no exception, it is a tmpfs of its own.
#  env.names: the contract's variables plus python3's runtime variables (the job is a .py);
#    env.names.exec is what `reelbox exec` gives instead; only the row of the mode in use counts.
#  session: the job is its own session (setsid), led by itself or by the sandbox's pid 1.

WORK=$(mktemp -d /tmp/reelbox-posture.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT

# owner_probe PID OUT: find reelbox's (PID's) child in a user namespace of its own, the
# sandbox's pid 1, once it runs reelbox-init, and write "OWNER UID": the namespace's owner
# (NS_GET_OWNER_UID) and the child's real uid, both as the host sees them. posture.py holds on for a second at its
# end, so pid 1 is there to be found.
owner_probe() {
	"$PY" - "$1" "$2" <<'PYEOF'
import fcntl, os, struct, sys, time
parent, out = sys.argv[1], sys.argv[2]
mine = os.readlink("/proc/self/ns/user")
deadline = time.monotonic() + 20
while time.monotonic() < deadline and os.path.exists("/proc/" + parent):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = dict(l.split(":", 1) for l in open("/proc/%s/status" % pid) if ":" in l)
            if st["PPid"].strip() != parent or os.readlink("/proc/%s/ns/user" % pid) == mine:
                continue
            # set up and running the init: its ids are the job's by then
            if not open("/proc/%s/cmdline" % pid, "rb").read().startswith(b"reelbox-init"):
                continue
            fd = os.open("/proc/%s/ns/user" % pid, os.O_RDONLY)
            buf = bytearray(4)
            fcntl.ioctl(fd, 0xB704, buf)  # NS_GET_OWNER_UID = _IO(0xb7, 0x4)
            os.close(fd)
        except (OSError, KeyError):
            continue
        with open(out, "w") as f:
            f.write("%d %s\n" % (struct.unpack("I", buf)[0], st["Uid"].split()[0]))
        sys.exit(0)
    time.sleep(0.02)
PYEOF
}

# sentry_probe PID OUT: the gvisor tier's host view: find the runsc-sandbox (the Sentry)
# under reelbox (PID) and write what the host kernel sees of it, as JSON.
sentry_probe() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, os, sys, time
parent, out = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 20
def status(pid):
    return dict((k, v.strip()) for k, _, v in (l.partition(":") for l in open("/proc/%s/status" % pid)))
while time.monotonic() < deadline and os.path.exists("/proc/" + parent):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not open("/proc/%s/cmdline" % pid, "rb").read().startswith(b"runsc-sandbox\0"):
                continue
            # under reelbox: its launcher, waiter and runsc between them
            up, found = pid, False
            for _ in range(5):
                up = status(up)["PPid"]
                found = up == parent
                if found or up in ("0", "1"):
                    break
            if not found:
                continue
            st = status(pid)
            ns = {n: os.readlink("/proc/%s/ns/%s" % (pid, n)) for n in ("user", "mnt", "ipc", "uts", "net")}
        except (OSError, KeyError):
            continue
        # the Sentry installs its filter once set up: looked at until it has, or is gone
        while True:
            json.dump({"uid": st["Uid"].split()[0], "seccomp": st.get("Seccomp", "?"),
                       "filters": st.get("Seccomp_filters", "?"), "nnp": st.get("NoNewPrivs", "?"),
                       "ns": ns}, open(out, "w"))
            if st.get("Seccomp") == "2" or time.monotonic() > deadline:
                sys.exit(0)
            time.sleep(0.02)
            try:
                st = status(pid)
            except OSError:
                sys.exit(0)
    time.sleep(0.02)
PYEOF
}
probe_host() { # probe_host PID: what the host sees of the job, by tier
	if [ "$TIER" = gvisor ]; then sentry_probe "$1" "$WORK/sentry"; else owner_probe "$1" "$WORK/owner"; fi
}

if [ "$VIA" = exec ]; then
	"$BIN" exec "${TIER_OPTS[@]}" -- /usr/bin/python3 -c "$(cat "$SRC/tests/hostile/posture.py")" --stdout \
		</dev/null >"$WORK/posture.json" 2>"$WORK/stderr" &
	probe_host $!
	wait $! || die "reelbox exec failed: $(tail -c 300 "$WORK/stderr")"
else
	"$BIN" run --json "${TIER_OPTS[@]}" --size 64x48 --fps 1 --frames 1 --timeout 20 -o "$WORK/posture.mp4" \
		"$SRC/tests/hostile/posture.py" </dev/null >"$WORK/summary.json" 2>"$WORK/stderr" &
	rb=$!
	probe_host $rb
	wait $rb
	rc=$?
	[ "$rc" = 0 ] || die "the posture job failed (exit $rc): $(jq -r '.error // empty' "$WORK/summary.json" 2>/dev/null) $(tail -c 300 "$WORK/stderr")"
	jq -r '.log' "$WORK/summary.json" | sed -n 's/^POSTURE [0-9]*\/[0-9]* //p' | tr -d '\n' >"$WORK/posture.json"
	n=$(jq -r '.log' "$WORK/summary.json" | grep -c '^POSTURE ')
	total=$(jq -r '.log' "$WORK/summary.json" | sed -n 's/^POSTURE [0-9]*\/\([0-9]*\) .*/\1/p' | head -1)
	[ -n "$total" ] && [ "$n" = "$total" ] || die "the log tail holds $n of ${total:-?} posture chunks; the report did not fit"
fi
jq -e . "$WORK/posture.json" >/dev/null 2>&1 || die "the posture report is not JSON: $(head -c 300 "$WORK/posture.json")"

HOST_NS=$(for n in user pid mnt net ipc uts cgroup time; do printf '%s=%s\n' "$n" "$(readlink /proc/self/ns/$n)"; done)

OWNER=$(cat "$WORK/owner" 2>/dev/null)
SENTRY=$(cat "$WORK/sentry" 2>/dev/null)
[ "$TIER" = gvisor ] || GVISOR=
VIA=$VIA EXPECTED=$EXPECTED GVISOR=$GVISOR HOST_NS=$HOST_NS OWNER=$OWNER SENTRY=${SENTRY:-null} \
	"$PY" - "$WORK/posture.json" <<'PYEOF'
import json, os, re, sys

p = json.load(open(sys.argv[1]))
sentry = json.loads(os.environ["SENTRY"])
gvisor = os.environ["GVISOR"].strip() != ""
SENTRY_DEVICES = {"full", "fuse", "net/tun", "null", "pts/ptmx", "random", "tty", "urandom", "zero"}
host_ns = dict(l.split("=", 1) for l in os.environ["HOST_NS"].splitlines())
DEVICE_NODES = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}
HOST_PRIVATE = ("/root", "/home", "/run", "/var/run", "/work", "/tmp", "/var/tmp/reelbox")


def mount(mp):
    m = [x for x in p["mounts"] if x[0] == mp]
    return m[-1] if m else None  # the last one is on top


def mount_flags(mp):
    m = mount(mp)
    return set(m[3].split(",")) if m else set()


def none_or(items):
    return " ".join(items) if items else "(none)"


def private(m):
    mp, root = m[0], m[1]
    for h in HOST_PRIVATE:
        if mp == h or mp.startswith(h + "/") or root == h or root.startswith(h + "/"):
            return True
    return False


def observe_sentry(field):
    if sentry is None:
        return "(the Sentry was not seen from the host)"
    rest = field.split(".", 1)[1]
    if rest.startswith("ns."):
        return sentry["ns"].get(rest[3:], "?")
    if rest == "uid":
        own = sentry["ns"]["user"] != host_ns["user"]
        return "unprivileged-own-userns" if sentry["uid"] != "0" and own else "uid %s, own userns %s" % (sentry["uid"], own)
    return sentry.get(rest, "?")


def observe(field):
    kind, _, rest = field.partition(".")
    if kind == "sentry":
        return observe_sentry(field)
    if field == "dev.sentry_only":
        return "yes" if set(p["dev"]) <= SENTRY_DEVICES else "no: " + " ".join(sorted(set(p["dev"]) - SENTRY_DEVICES))
    if gvisor and field == "fd.0":
        t = dict((str(fd), t) for fd, t in p["fds"]).get("0", "(closed)")
        return "host-fd" if t.startswith("host:[") else t
    ids = {"real": 0, "effective": 1, "saved": 2, "fs": 3}
    if kind in ("uid", "gid"):
        return p[kind][ids[rest]]
    if field == "groups.supplementary":
        return none_or([str(g) for g in p["groups"]])
    if kind == "cap":
        return p["cap"].get(rest, "?")
    if field == "seccomp.mode":
        return p["seccomp"]
    if field == "seccomp.filters":
        return p["seccomp_filters"]
    if field == "no_new_privs":
        return p["nnp"]
    if kind == "ns":
        return p["ns"].get(rest, "?")
    if field == "userns.owner":
        if not os.environ["OWNER"]:
            return "(the sandbox's pid 1 was not seen from the host)"
        owner, uid = os.environ["OWNER"].split()
        if owner == uid and owner != "0":
            return "job-host-uid"
        return "uid %s (the job's host uid is %s)" % (owner, uid)
    if field == "mount./":
        return "ro" if "ro" in mount_flags("/") else "rw"
    if field == "mount./scratch":
        m = mount(p["scratch"] or "/scratch")
        return ("%s %s" % ("ro" if "ro" in m[3].split(",") else "rw", m[2])) if m else "(absent)"
    if field == "mount./job":
        m = mount("/job")
        return ("ro" if "ro" in m[3].split(",") else "rw") if m else "(absent)"
    if field == "mount./proc":
        m = mount("/proc")
        return m[2] if m else "(absent)"
    if field == "mount.nosuid_missing":
        return none_or([m[0] for m in p["mounts"] if "nosuid" not in m[3].split(",")])
    if field == "mount.nodev_missing":
        return none_or([m[0] for m in p["mounts"] if "nodev" not in m[3].split(",") and m[0] not in DEVICE_NODES])
    if field == "mount.host_private":
        return none_or(["%s(from %s)" % (m[0], m[1]) for m in p["mounts"] if private(m)])
    if field == "fds":
        return " ".join(str(fd) for fd, _ in p["fds"])
    if field == "fd.0":
        return dict((str(fd), t) for fd, t in p["fds"]).get("0", "(closed)")
    if field == "umask.group_other_write":
        return "masked" if int(p["umask"], 8) & 0o022 == 0o022 else "umask %s" % p["umask"]
    if field in ("session.sid", "session.pgrp"):
        v = p["sid" if rest == "sid" else "pgrp"]
        return "pid-or-1" if v in (p["pid"], 1) else "%d (pid %d)" % (v, p["pid"])
    if field == "session.tty":
        return "(none)" if p["tty_nr"] == 0 else "tty_nr %d" % p["tty_nr"]
    if field in ("rlimit.core", "rlimit.sigpending", "rlimit.msgqueue"):
        return "%d/%d" % tuple(p["rlimit"][rest])
    if kind == "rlimit":
        name = rest.split(".")[0]
        hard = p["rlimit"][name][1]
        return "finite" if hard != -1 else "infinite"
    if field in ("env.names", "env.names.exec"):
        return " ".join(sorted(p["env"]))
    if field == "cwd":
        return "$SCRATCH" if p["cwd"] == p["scratch"] and p["scratch"] else "%s (SCRATCH=%s)" % (p["cwd"], p["scratch"])
    if field == "dev.nodes":
        return " ".join(sorted(p["dev"]))
    if field == "net.interfaces":
        i = p["ifaces"]
        return "lo-or-hidden" if i in (["lo"], ["?"], []) else " ".join(i)
    if field == "pid1.environ":
        return "unreadable" if p["pid1_environ"].startswith("unreadable") else p["pid1_environ"]
    return "(unknown field)"


passed = failed = 0
rows = []
# the gvisor tier's rows: field -> (field observed, expected, why)
instead = {}
for line in os.environ["GVISOR"].splitlines():
    if line.strip():
        field, rest = line.split(None, 1)
        other = field
        if rest.startswith("="):
            other, rest = rest[1:].split(None, 1)
        expected, why = re.split(r"\s{2,}", rest.strip(), 1)
        instead[field] = (other, expected, why)
for line in os.environ["EXPECTED"].splitlines():
    if not line.strip():
        continue
    field, expected = line.split(None, 1)
    expected = expected.strip()
    why = ""
    if field in instead:
        shown = field
        field, expected, why = instead[field]
    if why:
        print("gvisor: %s is judged as %s %s: %s" % (line.split()[0], field, expected, why))
    if field == ("env.names" if os.environ["VIA"] == "exec" else "env.names.exec"):
        continue
    obs = observe(field)
    if expected == "!=host":
        ok = obs != host_ns.get(field.split(".", 1)[1]) and not obs.startswith("error") and obs != "?"
        obs_shown = obs + (" (host: same)" if not ok else "")
    elif expected.startswith(">="):
        ok = obs.isdigit() and int(obs) >= int(expected[2:])
        obs_shown = obs
    else:
        ok = obs == expected
        obs_shown = obs
    rows.append((field, expected, obs_shown, "ok" if ok else "FAIL"))
    passed, failed = passed + ok, failed + (not ok)

w1 = max(len(r[0]) for r in rows)
w2 = min(40, max(len(r[1]) for r in rows))
print("%-*s | %-*s | %s | ok" % (w1, "field", w2, "expected", "observed"))
print("-" * 110)
for f, e, o, ok in rows:
    print("%-*s | %-*s | %s | %s" % (w1, f, w2, e, o, ok))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PYEOF
