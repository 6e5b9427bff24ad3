#!/usr/bin/env python3
# Positive: scratch is writable and is the working directory: files, dirs, a symlink,
# tempfile, a 4 MiB round trip, rename and delete; $HOME and $SCRATCH point at it.
# Expected: the job succeeds.
#@include _lib.py
import hashlib
import tempfile

log("cwd %s, SCRATCH %s, HOME %s" % (os.getcwd(), SCRATCH, os.environ.get("HOME")))
assert os.path.realpath(os.getcwd()) == os.path.realpath(SCRATCH)
data = os.urandom(4 << 20)
with open("blob.bin", "wb") as f:
    f.write(data)
with open(os.path.join(SCRATCH, "blob.bin"), "rb") as f:
    assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
os.makedirs("a/b/c")
os.symlink("blob.bin", "link")
os.rename("blob.bin", "a/b/c/moved.bin")
with tempfile.NamedTemporaryFile(dir=SCRATCH) as t:
    t.write(b"x")
with tempfile.TemporaryDirectory() as td:
    log("tempfile.gettempdir(): %s" % td)
with open(os.path.join(os.environ.get("HOME", SCRATCH), ".cache-test"), "w") as f:
    f.write("ok")
st = os.statvfs(SCRATCH)
log("scratch: %d MiB free" % (st.f_bavail * st.f_frsize >> 20))
finish()
