#!/usr/bin/env python3
# Attack: use capabilities that a careless sandbox leaves: CAP_CHOWN (chown to root),
# CAP_FOWNER/CAP_DAC_OVERRIDE (chmod and read files of others), CAP_SYS_ADMIN
# (sethostname in the uts namespace, mount), CAP_SYS_CHROOT, CAP_SETFCAP (file
# capabilities), CAP_NET_ADMIN, CAP_SETUID; and raise capabilities with capset.
# Contained: all five capability sets are empty and every one of these fails.
#@include _lib.py

st = status_fields()
for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    log("%s: %s" % (k, st.get(k)))
    if int(st.get(k, "0"), 16):
        breach("%s is not empty: %s" % (k, st.get(k)))


def sethostname(name):
    ctypes.set_errno(0)
    if libc.sethostname(name, len(name)) != 0:
        raise OSError(ctypes.get_errno(), "sethostname")


f = os.path.join(SCRATCH, "capfile")
open(f, "w").close()
for label, fn in (
    ("chown to root (CAP_CHOWN)", lambda: os.chown(f, 0, 0)),
    ("sethostname (CAP_SYS_ADMIN)", lambda: sethostname(b"pwned")),
    ("chroot (CAP_SYS_CHROOT)", lambda: os.chroot(SCRATCH)),
    ("setxattr security.capability (CAP_SETFCAP)", lambda: os.setxattr(f, "security.capability", b"\x01\x00\x00\x02" + b"\xff" * 16)),
    ("setxattr trusted.x (CAP_SYS_ADMIN)", lambda: os.setxattr(f, "trusted.x", b"1")),
    ("read /etc/shadow (CAP_DAC_READ_SEARCH)", lambda: open("/etc/shadow").read(1)),
    ("setuid(0) (CAP_SETUID)", lambda: os.setuid(0)),
    ("setgroups([0]) (CAP_SETGID)", lambda: os.setgroups([0])),
):
    try:
        fn()
        breach(label + " worked")
    except OSError as e:
        log("%s: %s" % (label, ename(e.errno) if e.errno else e))
# capset: try to add CAP_SYS_ADMIN to the effective set
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)(1 << 21, 1 << 21, 0, 0, 0, 0)
ctypes.set_errno(0)
r = libc.capset(hdr, data)
if r == 0:
    breach("capset raised CAP_SYS_ADMIN")
else:
    log("capset CAP_SYS_ADMIN: %s" % ename(ctypes.get_errno()))
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2
r = libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 21, 0, 0)
if r == 0:
    breach("ambient CAP_SYS_ADMIN raised")
else:
    log("PR_CAP_AMBIENT_RAISE: %s" % ename(ctypes.get_errno()))
finish()
