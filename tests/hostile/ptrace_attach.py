#!/usr/bin/env python3
# Attack: ptrace - attach to pid 1 (the worker's init) and to a sibling process, and
# PTRACE_TRACEME in a child: with ptrace a script reads and rewrites other processes, and
# it is a classic way around seccomp on old kernels.
# Contained: ptrace is closed by the policy (EPERM/ENOSYS, or the job dies of SIGSYS).
#@include _lib.py
import subprocess

PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_DETACH = 0, 16, 0x4206, 17
sib = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)", MARKER])
try:
    expect_closed("ptrace(PTRACE_ATTACH, 1)", "ptrace", PTRACE_ATTACH, 1, 0, 0)
    if expect_closed("ptrace(PTRACE_SEIZE, sibling %d)" % sib.pid, "ptrace", PTRACE_SEIZE, sib.pid, 0, 0) is False:
        sc("ptrace", PTRACE_DETACH, sib.pid, 0, 0)
    pid = os.fork()
    if pid == 0:
        r, e = sc("ptrace", PTRACE_TRACEME, 0, 0, 0)
        os._exit(0 if (r == -1 and e in CLOSED) else 3)
    _, st = os.waitpid(pid, 0)
    if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0:
        log("PTRACE_TRACEME in a child: closed")
    elif os.WIFSIGNALED(st):
        log("PTRACE_TRACEME child killed by signal %d" % os.WTERMSIG(st))
        if os.WTERMSIG(st) != 31:
            breach("PTRACE_TRACEME child died of signal %d" % os.WTERMSIG(st))
    else:
        sentry_answer("PTRACE_TRACEME worked in a child")
finally:
    sib.kill()
finish()
