#!/usr/bin/env python3
# Attack: a 64x48 job whose script writes PPM frames declaring 7680x4320 at maxval 65535
# (16 bits a sample): 199 MB a frame, which a reader that trusts the header allocates,
# holds and rescales in the worker - many times what the job's own size needs.
# Contained: the reader refuses a frame of another size than the job's before it
# allocates anything: the job fails naming 7680x4320, and reelbox's own VmHWM stays
# under 64 MB (the host samples it).
#@include _lib.py

header = b"P6\n7680 4320\n65535\n"
body = 7680 * 4320 * 3 * 2
chunk = b"\x80" * (1 << 20)
log("writing PPM frames declaring 7680x4320 maxval 65535 to a %dx%d job" % (W, H))
try:
    for i in range(FRAMES):
        os.write(1, header)
        left = body
        while left:
            left -= os.write(1, memoryview(chunk)[: min(left, len(chunk))])
except BrokenPipeError:
    log("the frame pipe was closed")
os._exit(0)
