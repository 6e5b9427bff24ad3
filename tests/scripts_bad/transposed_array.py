# Prompt: "a ball moving across a gradient" - the array is shaped (W, H, 3).
# expect: warns: rows of the first frame line up every 180 pixels, not 320: a numpy array shaped (WIDTH, HEIGHT, 3)?
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    frame = np.zeros((W, H, 3), dtype=np.uint8)
    for x in range(W):
        frame[x, :, 0] = x * 255 // W
        frame[x, :, 2] = np.arange(H) * 255 // H
    cx, cy = 40 + i * 20, H // 2
    frame[cx - 15:cx + 15, cy - 15:cy + 15] = (255, 255, 255)
    sys.stdout.buffer.write(frame.tobytes())
