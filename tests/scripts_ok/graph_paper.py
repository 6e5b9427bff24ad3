# Prompt: "graph paper: white background, thin grey grid lines every 20 px, a blue dot moving"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
paper = np.full((H, W, 3), 255, np.uint8)
paper[:, ::20] = (200, 200, 200)
paper[::20, :] = (200, 200, 200)
for i in range(N):
    f = paper.copy()
    cx, cy = (i * 7) % W, H // 2
    f[max(0, cy - 3):cy + 3, max(0, cx - 3):cx + 3] = (30, 60, 220)
    sys.stdout.buffer.write(f.tobytes())
