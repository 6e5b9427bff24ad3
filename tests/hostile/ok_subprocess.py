#!/usr/bin/env python3
# Positive: the container tier still runs subprocesses - sh, coreutils, a pipeline, a
# Python child, fork/wait and threads.
# Expected: the job succeeds.
#@include _lib.py
import subprocess
import threading

out = subprocess.run(["sh", "-c", "echo hello | tr a-z A-Z; ls / | wc -l; id -u"], capture_output=True,
                     text=True, check=True).stdout.split()
log("sh pipeline: %s" % out)
assert out[0] == "HELLO", out
child = subprocess.run([sys.executable, "-c", "print(6*7)"], capture_output=True, text=True, check=True)
assert child.stdout.strip() == "42"
pid = os.fork()
if pid == 0:
    os._exit(7)
_, st = os.waitpid(pid, 0)
assert os.WEXITSTATUS(st) == 7
res = []
ts = [threading.Thread(target=lambda i=i: res.append(i * i)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
assert sorted(res) == [0, 1, 4, 9]
log("subprocess, fork, threads: ok")
finish()
