#!/usr/bin/env python3
# Attack: crash on purpose. If core_pattern pipes to a host helper, the kernel runs it as
# root on the host for a crash inside the sandbox; a core file would also leave the job's
# memory behind. Raises RLIMIT_CORE as far as it can, then segfaults a child.
# Contained: RLIMIT_CORE stays 0 and no core file appears (the host checks for new core
# files in the state dir, the output dir and /tmp).
#@include _lib.py
import resource
import subprocess

try:
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    log("RLIMIT_CORE now %s" % (resource.getrlimit(resource.RLIMIT_CORE),))
except (ValueError, OSError) as e:
    log("RLIMIT_CORE: %s" % e)
try:
    with open("/proc/sys/kernel/core_pattern") as f:
        log("core_pattern: %s" % f.read().strip())
except OSError as e:
    log("core_pattern: %s" % ename(e.errno))
r = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.string_at(0)", MARKER],
                   stdin=subprocess.DEVNULL, capture_output=True)
log("crashing child ended with %d" % r.returncode)
cores = [f for f in os.listdir(SCRATCH) if f.startswith("core")]
if cores:
    breach("core files written: %s" % cores)
if resource.getrlimit(resource.RLIMIT_CORE) != (0, 0):
    breach("RLIMIT_CORE could be set to %s" % (resource.getrlimit(resource.RLIMIT_CORE),))
finish()
