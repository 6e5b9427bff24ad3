# Prompt: "cairo-style drawing into a 4-channel buffer" - BGRA bytes sent as rgb24.
# expect: fails: every 4th byte of the first frame is 255
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    buf = np.zeros((H, W, 4), np.uint8)  # B, G, R, A like a cairo ARGB32 surface
    buf[..., 0] = (xx * 255 // W).astype(np.uint8)
    buf[..., 1] = ((yy + i * 5) * 255 // H % 256).astype(np.uint8)
    buf[..., 2] = 100
    buf[..., 3] = 255
    sys.stdout.buffer.write(buf.tobytes())
