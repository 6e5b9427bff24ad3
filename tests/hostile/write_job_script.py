#!/usr/bin/env python3
# Attack: tamper with the job's own files under /job/ (the script itself, which the worker
# wrote there): overwrite, append, chmod, rename, delete, create a sibling.
# Contained: /job is read-only (EROFS/EACCES/EPERM).
#@include _lib.py

me = os.path.realpath(sys.argv[0])
log("script path: %s" % me)
for label, fn in (
    ("append", lambda: os.close(os.open(me, os.O_WRONLY | os.O_APPEND))),
    ("truncate", lambda: os.close(os.open(me, os.O_WRONLY | os.O_TRUNC))),
    ("chmod", lambda: os.chmod(me, 0o777)),
    ("rename", lambda: os.rename(me, me + ".moved")),
    ("unlink", lambda: os.unlink(me)),
    ("create sibling", lambda: os.close(os.open(os.path.join(os.path.dirname(me), "extra"), os.O_CREAT | os.O_WRONLY, 0o644))),
    ("utime", lambda: os.utime(me, (0, 0))),
):
    try:
        fn()
        breach("%s of %s worked" % (label, me))
    except OSError as e:
        log("%s: %s" % (label, ename(e.errno)))
finish()
