#!/usr/bin/env python3
# Attack: personality(2) - ADDR_NO_RANDOMIZE switches ASLR off for what we exec next;
# READ_IMPLIES_EXEC makes every readable mapping executable; PER_LINUX32 changes the ABI.
# Contained: changing the personality is refused (querying it with 0xffffffff may be
# allowed); the host-visible proof is a child's personality, read from /proc.
#@include _lib.py
import subprocess

libc.personality.restype = ctypes.c_int
cur = libc.personality(ctypes.c_ulong(0xFFFFFFFF))
log("current personality: %#x" % cur)
ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, PER_LINUX32 = 0x0040000, 0x0400000, 0x0008
for flag, label in ((ADDR_NO_RANDOMIZE, "ADDR_NO_RANDOMIZE"), (READ_IMPLIES_EXEC, "READ_IMPLIES_EXEC"),
                    (PER_LINUX32, "PER_LINUX32")):
    expect_closed("personality(%s)" % label, "personality", flag)
now = libc.personality(ctypes.c_ulong(0xFFFFFFFF))
if now != cur and now != -1:
    breach("personality changed from %#x to %#x" % (cur, now))
r = subprocess.run(["cat", "/proc/self/personality"], capture_output=True, text=True)
log("a child's personality: %s" % r.stdout.strip())
if r.stdout.strip() and int(r.stdout.strip(), 16) != 0:
    breach("a child runs with personality %s" % r.stdout.strip())
finish()
