#!/usr/bin/env python3
# Attack: secrets in the job's own environment (API keys, REDIS URLs, the worker's env).
# The runner starts reelbox with secrets in its environment; the host side checks that
# their values appear nowhere in the job's log (this script prints its whole environment).
# Contained: the environment is exactly the contract's list plus the runtime's fixed vars.
#@include _lib.py

ALLOWED = {"WIDTH", "HEIGHT", "FPS", "FRAMES", "PIX_FMT", "SCRATCH",
           "HOME", "PATH", "LANG",
           "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "LC_CTYPE"}
for k in sorted(os.environ):
    log("env %s=%s" % (k, os.environ[k][:80]))
extra = sorted(set(os.environ) - ALLOWED)
if extra:
    breach("environment has variables beyond the contract: %s" % extra)
with open("/proc/self/environ", "rb") as f:
    raw = f.read()
if b"SECRET" in raw.upper() or b"TOKEN" in raw.upper():
    breach("/proc/self/environ mentions a secret")
finish()
