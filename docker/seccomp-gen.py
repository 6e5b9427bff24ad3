#!/usr/bin/env python3
"""Generate docker/seccomp.json: Docker's default seccomp profile plus exactly the calls
reelbox's sandbox makes inside a container that has no capabilities added.

The base, docker/seccomp-docker-default.json, is Docker 20.10.24's
profiles/seccomp/default.json, unchanged, as Debian 12 ships it in
golang-github-docker-docker-dev 20.10.24+dfsg1-1+deb12u1
(/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json, Apache-2.0).
Docker's default gates these calls on CAP_SYS_ADMIN; a container without that
capability gets EPERM (mount, umount2, pivot_root, mount_setattr, sethostname) or ENOSYS
(clone3). The kernel still checks CAP_SYS_ADMIN in the user namespace that owns the
mount or UTS namespace, so the calls allowed here work only on the namespaces the
sandbox creates, never on the container's own mounts or name.

    docker/seccomp-gen.py                  write docker/seccomp.json
    docker/seccomp-gen.py --check          exit 1 when docker/seccomp.json is not what
                                           this script generates
    docker/seccomp-gen.py --without NAME   print the profile without NAME's rule
                                           (tests/it_container.sh proves each is needed)
    docker/seccomp-gen.py --list           print the added names
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "seccomp-docker-default.json")
OUT = os.path.join(HERE, "seccomp.json")

# The additions, in the order the sandbox meets them; each reason is one line and
# becomes the rule's "comment" (Docker, podman and runc ignore that field).
ADDED = [
    ("clone3", "reelbox sandbox: its first process is cloned into new user, mount, pid, "
     "net, ipc, uts and cgroup namespaces with CLONE_PIDFD (and CLONE_INTO_CGROUP); "
     "clone3 keeps its flags in memory a filter cannot read, so it is allowed whole"),
    ("mount", "reelbox sandbox: the job's root (a tmpfs), read-only binds of /usr and the "
     "runtimes, and the /proc of its pid namespace, inside its own mount namespace"),
    ("mount_setattr", "reelbox sandbox: those binds made read-only, nosuid and nodev, "
     "recursively, inside its own mount namespace"),
    ("pivot_root", "reelbox sandbox: the job's tmpfs root becomes / of its mount namespace"),
    ("umount2", "reelbox sandbox: the full /proc that sets the job's user-namespace limits "
     "(/proc/sys/user) and the old root after pivot_root, detached (MNT_DETACH)"),
    ("sethostname", "reelbox sandbox: the job's own UTS namespace is named reelbox, so "
     "the host's name is not the script's business"),
]


def generate(without=None):
    with open(BASE) as f:
        prof = json.load(f)
    names = [n for n, _ in ADDED if n != without]
    # Docker's rules that deny an added call to a container without CAP_SYS_ADMIN
    # (clone3's ENOSYS) would conflict with an allow rule for the same call: the call
    # leaves them. Its CAP_SYS_ADMIN-gated allow rule stays as it is.
    rules = []
    for rule in prof["syscalls"]:
        if rule["action"] != "SCMP_ACT_ALLOW":
            rule = dict(rule, names=[n for n in rule["names"] if n not in names])
            if not rule["names"]:
                continue
        rules.append(rule)
    for name, why in ADDED:
        if name in names:
            rules.append({"names": [name], "action": "SCMP_ACT_ALLOW", "args": [],
                          "comment": why, "includes": {}, "excludes": {}})
    prof["syscalls"] = rules
    return json.dumps(prof, indent="\t") + "\n"


def main(argv):
    if argv == ["--list"]:
        print("\n".join(n for n, _ in ADDED))
        return 0
    if len(argv) == 2 and argv[0] == "--without":
        if argv[1] not in [n for n, _ in ADDED]:
            print(f"seccomp-gen: {argv[1]} is not one of the added calls", file=sys.stderr)
            return 2
        sys.stdout.write(generate(argv[1]))
        return 0
    text = generate()
    if argv == ["--check"]:
        with open(OUT) as f:
            if f.read() != text:
                print("seccomp-gen: docker/seccomp.json differs from what "
                      "docker/seccomp-gen.py generates; run it and commit the result",
                      file=sys.stderr)
                return 1
        return 0
    if argv:
        print("usage: seccomp-gen.py [--check | --list | --without NAME]", file=sys.stderr)
        return 2
    with open(OUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
