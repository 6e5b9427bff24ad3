#!/usr/bin/env python3
# Attack: the i386 ABI from a 64-bit process - "int 0x80" uses the 32-bit syscall table,
# where the numbers mean different calls; a filter that does not check the arch is
# bypassed (20 = getpid there, 39 on x86_64 is... something else in i386).
# Contained: the filter kills i386 calls (the job dies of SIGSYS).
#@include _lib.py
import mmap

code = bytes([0xB8, 0x14, 0x00, 0x00, 0x00,  # mov eax, 20 (i386 getpid)
              0xCD, 0x80,                    # int 0x80
              0xC3])                         # ret
try:
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError as e:
    log("mmap RWX: %s (cannot even try)" % e)
    finish()
m.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
fn = ctypes.CFUNCTYPE(ctypes.c_int)(addr)
r = fn()
log("int 0x80 getpid answered %d (pid %d)" % (r, os.getpid()))
if r == os.getpid():
    breach("the i386 ABI is reachable: int 0x80 getpid worked")
finish()
