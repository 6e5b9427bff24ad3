#!/usr/bin/env python3
# _hostprobe.py - the host's side of a kernel-budget row of the hostile corpus, run by
# tests/it_hostile.sh as root next to the job (check probe:KIND:MAX in manifest.tsv).
#
# Usage: _hostprobe.py KIND MARKER_FILE OUT
#   KIND     inotify   count the job's inotify instances from /proc/<pid>/fd, and create
#                      32 inotify instances here while it holds them
#            sigqueue  read the job's queued signals from /proc/<pid>/status (SigQ), and
#                      call timer_create (SIGEV_SIGNAL) here while they are queued
# A job process is one whose command line holds the run's marker (read from MARKER_FILE,
# so this probe's own command line does not) and whose user namespace is not ours. Once
# the job's count is above 0 and has not changed for 0.3 s, the probe works once and
# writes one line to OUT: "job=N host=M base=B" (inotify: instances the job held, got
# here, got here before the job; sigqueue: signals queued, 0 or the errno of
# timer_create, the same before the job), then exits. Nothing is written when the job
# never held any within 30 s.
import ctypes
import os
import sys
import time

kind, marker_file, out = sys.argv[1:4]
marker = open(marker_file).read().strip().encode()
libc = ctypes.CDLL(None, use_errno=True)
my_userns = os.readlink("/proc/self/ns/user")
HOST_INOTIFY = 32
WARM = os.environ.get("REELBOX_HOSTILE_WARM") == "1"


def job_pids():
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % name, "rb").read()
            # a warm sandbox (REELBOX_HOSTILE_WARM=1) runs the pool's loader, whose
            # command line is the loader's code, or the zygote's when it was cloned by
            # one (the zygote itself is in the host's user namespace: skipped below)
            warm = b"_reelbox_warm" in cmd or b"\0__zygote\0" in cmd
            if marker not in cmd and not (WARM and warm):
                continue
            if os.readlink("/proc/%s/ns/user" % name) == my_userns:
                continue
        except OSError:
            continue
        yield name


def job_count():
    n = 0
    for pid in job_pids():
        try:
            if kind == "inotify":
                for fd in os.listdir("/proc/%s/fd" % pid):
                    try:
                        if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == "anon_inode:inotify":
                            n += 1
                    except OSError:
                        pass
            else:
                # SigQ counts the user's queued signals: the same for every process of it
                for line in open("/proc/%s/status" % pid):
                    if line.startswith("SigQ:"):
                        n = max(n, int(line.split()[1].split("/")[0]))
        except OSError:
            pass
    return n


def host_inotify():
    fds = []
    while len(fds) < HOST_INOTIFY:
        fd = libc.inotify_init1(0o2000000)  # IN_CLOEXEC
        if fd < 0:
            break
        fds.append(fd)
    for fd in fds:
        os.close(fd)
    return len(fds)


class sigevent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("pad", ctypes.c_int * 12)]


def host_timer():
    sev = sigevent(None, 34, 0)  # SIGRTMIN, SIGEV_SIGNAL
    timer = ctypes.c_void_p()
    ctypes.set_errno(0)
    if libc.timer_create(1, ctypes.byref(sev), ctypes.byref(timer)) != 0:  # CLOCK_MONOTONIC
        return ctypes.get_errno()
    libc.timer_delete(timer)
    return 0


work = host_inotify if kind == "inotify" else host_timer
base = work()
deadline = time.monotonic() + 30
last, since = 0, time.monotonic()
while time.monotonic() < deadline:
    n = job_count()
    now = time.monotonic()
    if n != last:
        last, since = n, now
    elif n > 0 and now - since >= 0.3:
        got = work()
        with open(out, "w") as f:
            f.write("job=%d host=%d base=%d\n" % (job_count(), got, base))
        sys.exit(0)
    time.sleep(0.05)
