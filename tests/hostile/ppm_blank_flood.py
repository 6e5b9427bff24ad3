#!/usr/bin/env python3
# Attack: netpbm allows blanks between images. After one valid PPM frame the script
# writes 2 MiB of blanks before the next - a reader that skips blanks without a bound
# reads an endless run of them forever, and one that buffers the gap grows with it.
# Contained: the reader tolerates only a short run of blanks between images: the job
# fails naming the blank bytes, and reelbox's own VmHWM stays under 64 MB.
#@include _lib.py

image = b"P6\n%d %d\n255\n" % (W, H) + b"\x40" * (W * H * 3)
blanks = b" \n\t\r" * (1 << 19)  # 2 MiB
log("writing a %dx%d PPM frame, 2 MiB of blanks, and another frame" % (W, H))
try:
    for data in (image, blanks, image):
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
except BrokenPipeError:
    log("the frame pipe was closed")
os._exit(0)
