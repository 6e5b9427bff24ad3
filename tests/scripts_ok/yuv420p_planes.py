# Prompt: "raw yuv420p frames: a luma ramp with a colour tint that drifts"
# reelbox: --pix-fmt yuv420p
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    y = np.tile(np.linspace(16, 235, W).astype(np.uint8), (H, 1))
    u = np.full((H // 2, W // 2), 128 + i * 3, np.uint8)
    v = np.full((H // 2, W // 2), 128 - i * 3, np.uint8)
    sys.stdout.buffer.write(y.tobytes() + u.tobytes() + v.tobytes())
