#!/usr/bin/env python3
# Attack: fill the disk - one huge file (beyond RLIMIT_FSIZE), then many 1 MiB files,
# until the scratch size (--scratch 8) stops it. Python ignores SIGXFSZ, so the file size
# limit shows up as EFBIG.
# Contained: writing stops with ENOSPC or EFBIG at about the scratch size; the host checks
# its own free space and shared memory did not shrink, and the scratch is gone afterwards.
#@include _lib.py

total = 0
chunk = b"\xab" * (1 << 20)
stop = None
try:
    with open(os.path.join(SCRATCH, "big"), "wb", buffering=0) as f:
        while total < (1 << 30):
            total += f.write(chunk)
except OSError as e:
    stop = ename(e.errno)
log("one file: %d MiB, stopped by %s" % (total >> 20, stop))
i = 0
try:
    while total < (1 << 30):
        with open(os.path.join(SCRATCH, "f%d" % i), "wb", buffering=0) as f:
            total += f.write(chunk)
        i += 1
except OSError as e:
    stop = ename(e.errno)
log("all files: %d MiB, stopped by %s" % (total >> 20, stop))
if total >= (1 << 30):
    breach("wrote 1 GiB to scratch")
if total > (64 << 20):
    breach("wrote %d MiB to an 8 MB scratch" % (total >> 20))
for fn in os.listdir(SCRATCH):
    os.unlink(os.path.join(SCRATCH, fn))
finish()
