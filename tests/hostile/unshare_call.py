#!/usr/bin/env python3
# Attack: new namespaces and entering other ones. A new user namespace gives a full set
# of capabilities inside it - the entry ticket to most kernel exploits (mount, netfilter,
# ...). setns into pid 1's namespaces.
# Contained: unshare and setns with namespace flags are closed by the policy.
#@include _lib.py

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x20000, 0x10000000, 0x40000000, 0x20000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWTIME = 0x4000000, 0x8000000, 0x2000000, 0x80
for flag, label in ((CLONE_NEWUSER, "CLONE_NEWUSER"), (CLONE_NEWNS, "CLONE_NEWNS"), (CLONE_NEWNET, "CLONE_NEWNET"),
                    (CLONE_NEWPID, "CLONE_NEWPID"), (CLONE_NEWUTS, "CLONE_NEWUTS"), (CLONE_NEWIPC, "CLONE_NEWIPC"),
                    (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"), (CLONE_NEWTIME, "CLONE_NEWTIME"),
                    (CLONE_NEWUSER | CLONE_NEWNS, "CLONE_NEWUSER|CLONE_NEWNS")):
    expect_closed("unshare(%s)" % label, "unshare", flag)
for ns in ("mnt", "user", "pid", "net"):
    try:
        fd = os.open("/proc/1/ns/%s" % ns, os.O_RDONLY)
    except OSError as e:
        log("open /proc/1/ns/%s: %s" % (ns, ename(e.errno)))
        continue
    expect_closed("setns(/proc/1/ns/%s)" % ns, "setns", fd, 0)
    os.close(fd)
finish()
