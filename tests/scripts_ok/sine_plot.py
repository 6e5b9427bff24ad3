# Prompt: "animate a sine wave being drawn like an oscilloscope"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
xs = np.arange(W)
for i in range(N):
    f = np.zeros((H, W, 3), np.uint8)
    f[:, :] = (0, 25, 0)
    f[H // 2, :] = (0, 80, 0)
    ys = (H / 2 - (H / 3) * np.sin(2 * np.pi * (xs / W * 2 + i / 10))).astype(int)
    for t in (-1, 0, 1):
        f[np.clip(ys + t, 0, H - 1), xs] = (60, 255, 60)
    sys.stdout.buffer.write(f.tobytes())
