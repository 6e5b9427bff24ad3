#!/usr/bin/env python3
# Attack: process_vm_readv/process_vm_writev - read and write another process's memory
# without ptrace: pid 1, a sibling, and itself.
# Contained: both calls are closed by the policy.
#@include _lib.py
import subprocess

sib = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)", MARKER])
buf = ctypes.create_string_buffer(64)


class IOV(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


local = IOV(ctypes.addressof(buf), 64)
src = ctypes.create_string_buffer(b"hello", 64)
remote = IOV(ctypes.addressof(src), 64)
try:
    for pid in (1, sib.pid, os.getpid()):
        expect_closed("process_vm_readv(%d)" % pid, "process_vm_readv", pid, ctypes.byref(local), 1,
                      ctypes.byref(remote), 1, 0, ok_errnos=(errno.ESRCH,) if pid == 1 else ())
    expect_closed("process_vm_writev(self)", "process_vm_writev", os.getpid(), ctypes.byref(local), 1,
                  ctypes.byref(remote), 1, 0)
finally:
    sib.kill()
finish()
