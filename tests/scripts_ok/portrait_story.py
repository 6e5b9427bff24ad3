# Prompt: "a vertical (9:16) story background: diagonal stripes moving up"
# reelbox: --size 180x320
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    s = ((xx + yy + i * 6) // 15) % 2
    f = np.where(s[:, :, None] == 1, np.array([255, 90, 120], np.uint8), np.array([30, 30, 60], np.uint8))
    sys.stdout.buffer.write(f.astype(np.uint8).tobytes())
