# Prompt: "SMPTE colour bars with a moving white line, numpy"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
bars = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0),
        (0, 0, 192)]
base = np.zeros((H, W, 3), np.uint8)
for k, c in enumerate(bars):
    base[:, k * W // 7:(k + 1) * W // 7] = c
base[H * 3 // 4:, :] = (16, 16, 16)
for i in range(N):
    f = base.copy()
    y = (i * 4) % H
    f[y:y + 2, :] = 255
    sys.stdout.buffer.write(f.tobytes())
