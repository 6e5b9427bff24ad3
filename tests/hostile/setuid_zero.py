#!/usr/bin/env python3
# Attack: become uid/gid 0 with setuid/setresuid/setgid/setfsuid, and check the ids and
# groups the job runs with.
# Contained: every call fails; the job runs as a non-zero id with no supplementary groups.
#@include _lib.py

log("uids %s gids %s groups %s" % (os.getresuid(), os.getresgid(), os.getgroups()))
if 0 in os.getresuid() or 0 in os.getresgid():
    breach("running with id 0: uids %s gids %s" % (os.getresuid(), os.getresgid()))
if os.getgroups():
    breach("supplementary groups: %s" % os.getgroups())
for label, fn in (("setuid(0)", lambda: os.setuid(0)), ("setresuid(0,0,0)", lambda: os.setresuid(0, 0, 0)),
                  ("setgid(0)", lambda: os.setgid(0)), ("setresgid(0,0,0)", lambda: os.setresgid(0, 0, 0)),
                  ("seteuid(0)", lambda: os.seteuid(0))):
    try:
        fn()
        breach(label + " worked")
    except OSError as e:
        log("%s: %s" % (label, ename(e.errno)))
libc.setfsuid.restype = ctypes.c_int
libc.setfsuid(0)
if libc.setfsuid(ctypes.c_uint(-1 & 0xFFFFFFFF)) == 0:
    breach("setfsuid(0) worked")
else:
    log("setfsuid(0): refused")
finish()
