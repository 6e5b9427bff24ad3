# Prompt: "a glow effect in float32, values 0..1" - written without scaling or casting.
# expect: fails: the first frame reads as float32 numbers, not bytes
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
for i in range(N):
    d = np.hypot(xx - W / 2, yy - H / 2) / (W / 2)
    glow = np.clip(1 - d + 0.05 * i, 0, 1).astype(np.float32)
    img = np.stack([glow, glow * 0.8, glow * 0.3], axis=-1)
    sys.stdout.buffer.write(img.tobytes())
