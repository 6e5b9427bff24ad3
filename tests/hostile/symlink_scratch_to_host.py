#!/usr/bin/env python3
# Attack aimed at the worker, not the sandbox: leave symlinks in scratch that point at host
# paths (the runner's victim dir with files in it, /etc, the state dir, the canaries,
# /proc/1/root), some named like things a worker might read, copy or purge (output.mp4,
# out, log, tmp). A worker that follows them while purging scratch (rm -rf) or collecting
# output would delete or overwrite host files.
# Contained: the host checks the victim dir and every canary are intact after the purge.
#@include _lib.py

targets = [VICTIM, VICTIM + "/keep.txt", "/etc", "/var/tmp/reelbox", "/proc/1/root", "/",
           "/tmp", "/root", "../../..", "/proc/self/cwd/../.."] + CANARIES
names = ["victim", "victim_file", "etc", "state", "root1", "slash", "tmp", "roothome", "dotdot", "cwdup"]
names += ["canary%d" % i for i in range(len(CANARIES))]
for n, t in zip(names, targets):
    try:
        os.symlink(t, os.path.join(SCRATCH, n))
    except OSError as e:
        log("symlink %s -> %s: %s" % (n, t, ename(e.errno)))
for n, t in (("output.mp4", VICTIM + "/keep.txt"), ("out", VICTIM), ("log", VICTIM + "/keep.txt"),
             ("tmp.mp4", "/etc/passwd"), ("stream", VICTIM + "/keep.txt")):
    try:
        os.symlink(t, os.path.join(SCRATCH, n))
    except OSError as e:
        log("symlink %s: %s" % (n, ename(e.errno)))
# a directory tree with a symlink in the middle: "rm -rf" following it would recurse into the host
os.makedirs(os.path.join(SCRATCH, "deep/a/b"), exist_ok=True)
os.symlink(VICTIM, os.path.join(SCRATCH, "deep/a/b/c"))
try:
    log("victim visible from inside: %s" % os.listdir(VICTIM))
    breach("the host's victim dir %s is visible inside" % VICTIM)
except OSError as e:
    log("victim dir inside: %s" % ename(e.errno))
log("scratch: %s" % sorted(os.listdir(SCRATCH)))
finish()
