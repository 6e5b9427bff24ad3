# Prompt: "rainbow flag with horizontal bands that slowly scroll downwards"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
colours = np.array([(228, 3, 3), (255, 140, 0), (255, 237, 0), (0, 128, 38), (36, 64, 142),
                    (115, 41, 130)], dtype=np.uint8)
band = max(1, H // 12)
for i in range(N):
    idx = ((np.arange(H) + i * 2) // band) % len(colours)
    rows = colours[idx]                      # (H, 3)
    frame = np.broadcast_to(rows[:, None, :], (H, W, 3))
    sys.stdout.buffer.write(np.ascontiguousarray(frame).tobytes())
