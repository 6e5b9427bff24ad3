# _lib.py - shared prelude of the hostile corpus (tests/hostile/*.py).
#
# tests/it_hostile.sh pastes this file in place of the line "#@include _lib.py" of every
# attack script, because a job sees only its own file under /job/. It also fills in the
# @@NAME@@ placeholders below with the values of the run (bait ports, canary paths, a
# marker). Run by hand without the runner, the placeholders keep their safe defaults.
#
# Protocol of every attack script:
#   - it tries its attack and prints what it observed to stderr (the job log);
#   - contained:  it writes FRAMES valid raw frames to stdout and exits 0 (finish());
#   - breached:   it prints "BREACH: <what>" and exits 97 without frames, so the job fails
#                 and the runner shows the breach;
#   - a call the policy must close counts as closed when it fails with EPERM or ENOSYS
#     (a seccomp filter's answers); the job dying of SIGSYS is the runner's business.
import ctypes
import errno
import os
import struct
import sys

W = int(os.environ.get("WIDTH", "64"))
H = int(os.environ.get("HEIGHT", "48"))
FPS = int(os.environ.get("FPS", "10"))
FRAMES = int(os.environ.get("FRAMES", "5"))
PIX_FMT = os.environ.get("PIX_FMT", "rgb24")
SCRATCH = os.environ.get("SCRATCH", os.getcwd())

_P = {
    "marker": "@@MARKER@@",
    "redis_port": "@@REDIS_PORT@@",
    "redis_sock": "@@REDIS_SOCK@@",
    "abstract": "@@ABSTRACT@@",
    "canaries": "@@CANARIES@@",
    "victim": "@@VICTIM@@",
    "sentinel": "@@SENTINEL@@",
    "bait_dir": "@@BAIT_DIR@@",
    "tier": "@@TIER@@",
}


def param(name, default):
    v = _P[name]
    return default if v.startswith("@@") else v


MARKER = param("marker", "hostile-manual")
REDIS_PORT = int(param("redis_port", "6379"))
REDIS_SOCK = param("redis_sock", "/var/run/redis/redis-server.sock")
ABSTRACT = param("abstract", "reelbox-hostile-bait")
CANARIES = [p for p in param("canaries", "").split(":") if p]
VICTIM = param("victim", "/var/tmp/reelbox-hostile-victim")
SENTINEL = param("sentinel", "reelbox-hostile-sentinel")
BAIT_DIR = param("bait_dir", "/tmp")
TIER = param("tier", "native")

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

CLOSED = (errno.EPERM, errno.ENOSYS)
_breaches = []

# x86_64 system call numbers used by the corpus.
NR = dict(
    read=0, write=1, ioctl=16, socket=41, connect=42, clone=56, fork=57, kill=62,
    ptrace=101, syslog=103, setuid=105, setgid=106, personality=135, swapon=167,
    swapoff=168, acct=163, settimeofday=164, mount=165, umount2=166, reboot=169,
    sethostname=170, init_module=175, delete_module=176, quotactl=179, pivot_root=155,
    chroot=161, clock_settime=227, mknod=133, mknodat=259, unshare=272, setns=308,
    process_vm_readv=310, process_vm_writev=311, kcmp=312, finit_module=313,
    kexec_load=246, kexec_file_load=320, add_key=248, request_key=249, keyctl=250,
    perf_event_open=298, name_to_handle_at=303, open_by_handle_at=304, bpf=321,
    userfaultfd=323, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
    open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
    pidfd_open=434, clone3=435, mount_setattr=442, clock_adjtime=305, getpid=39,
)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def ename(e):
    return errno.errorcode.get(e, str(e))


def breach(msg):
    """Record an attack that worked; finish() then fails the job."""
    _breaches.append(msg)
    log("BREACH: " + msg)


_sentry = []


def in_sentry():
    """Is the kernel answering this script gVisor's Sentry? Its log, which a host kernel
    does not show an unprivileged reader, begins "Starting gVisor"."""
    if not _sentry:
        buf = ctypes.create_string_buffer(8192)
        n = libc.klogctl(3, buf, len(buf))  # SYSLOG_ACTION_READ_ALL
        _sentry.append(n > 0 and b"Starting gVisor" in buf.raw[:n])
    return _sentry[0]


def sentry_answer(msg):
    """A call the native tier's filter closes and gVisor's Sentry serves itself: in the
    gvisor tier, once the Sentry is proven to be this script's kernel, it acted on the
    Sentry's own state (the runner's host-side checks stand); anywhere else a breach."""
    if TIER == "gvisor" and in_sentry():
        log("gvisor: %s (served by the Sentry, not the host kernel)" % msg)
    else:
        breach(msg)


def bpp():
    return {"rgb24": 3, "bgr24": 3, "rgba": 4, "gray": 1, "yuv420p": 1.5}.get(PIX_FMT, 3)


def frame_bytes():
    return int(W * H * bpp())


def write_frames(n=None, shade=0):
    """Write n (default FRAMES) valid raw frames to stdout."""
    n = FRAMES if n is None else n
    size = frame_bytes()
    for i in range(n):
        buf = bytes([(shade + 37 * i) & 0xFF]) * size
        view = memoryview(buf)
        while view:
            k = os.write(1, view)
            view = view[k:]


def finish():
    """End the script: frames and exit 0 when contained, exit 97 on a breach."""
    if _breaches:
        log("RESULT: %d breach(es)" % len(_breaches))
        sys.stderr.flush()
        os._exit(97)
    log("RESULT: contained")
    write_frames()
    sys.stdout.flush()
    os._exit(0)


def sc(name, *args):
    """Raw system call by name; returns (ret, errno)."""
    cargs = []
    for a in args:
        if isinstance(a, int):
            cargs.append(ctypes.c_long(a))
        else:
            cargs.append(a)
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *cargs)
    return r, ctypes.get_errno() if r == -1 else 0


def expect_closed(label, name, *args, ok_errnos=()):
    """Make a call the policy must close; a result other than EPERM/ENOSYS is a breach.

    ok_errnos: extra errnos that still prove the attack failed at a permission check
    (use sparingly: anything but EPERM/ENOSYS means the call reached the kernel)."""
    r, e = sc(name, *args)
    if r == -1 and e in CLOSED + tuple(ok_errnos):
        log("%s: %s (closed)" % (label, ename(e)))
        return True
    if r == -1:
        sentry_answer("%s reached the kernel: %s (a filtered call answers EPERM/ENOSYS)" % (label, ename(e)))
    else:
        sentry_answer("%s succeeded: returned %d" % (label, r))
    return TIER == "gvisor" and in_sentry()


def status_fields():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def safe_to_fire():
    """Guard for calls that would hurt the host if the sandbox were not there: only fire
    them as an unprivileged id, with no capabilities, in a child user and pid namespace."""
    st = status_fields()
    why = []
    if os.geteuid() == 0 or os.getuid() == 0:
        why.append("running as uid 0")
    if int(st.get("CapEff", "0"), 16) or int(st.get("CapPrm", "0"), 16):
        why.append("has capabilities (CapEff=%s)" % st.get("CapEff"))
    # the gvisor tier: the namespaces below are the Sentry's; the host kernel is not there
    if TIER == "gvisor" and in_sentry():
        if why:
            breach("refusing to fire: " + "; ".join(why))
            return False
        return True
    try:
        with open("/proc/self/uid_map") as f:
            m = f.read().split()
        if m[:3] == ["0", "0", "4294967295"]:
            why.append("in the initial user namespace")
    except OSError as e:
        why.append("cannot read uid_map: %s" % e)
    # the initial namespaces have fixed inode numbers (PROC_USER_INIT_INO, PROC_PID_INIT_INO)
    for ns, init_ino in (("user", 4026531837), ("pid", 4026531836)):
        try:
            if os.readlink("/proc/self/ns/" + ns) == "%s:[%d]" % (ns, init_ino):
                why.append("in the initial %s namespace" % ns)
        except OSError as e:
            why.append("cannot read /proc/self/ns/%s: %s" % (ns, e))
    if why:
        breach("refusing to fire (it would hit the host): " + "; ".join(why))
        return False
    return True


def try_open(path, flags, mode=0o644):
    """Open and close; returns None on success or the errno."""
    try:
        fd = os.open(path, flags, mode)
    except OSError as e:
        return e.errno
    os.close(fd)
    return None
