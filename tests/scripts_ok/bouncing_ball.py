# Prompt: "a red ball bouncing around a dark blue box"
import os
import sys

import numpy as np

W, H = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
FPS, FRAMES = float(os.environ["FPS"]), int(os.environ["FRAMES"])

r = max(4, min(W, H) // 8)
x, y, vx, vy = W / 3, H / 2, W / FPS * 0.9, H / FPS * 0.7
yy, xx = np.mgrid[0:H, 0:W]
for _ in range(FRAMES):
    frame = np.empty((H, W, 3), dtype=np.uint8)
    frame[:] = (10, 20, 60)
    mask = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    frame[mask] = (230, 40, 40)
    sys.stdout.buffer.write(frame.tobytes())
    x, y = x + vx, y + vy
    if not r <= x <= W - r:
        vx = -vx
    if not r <= y <= H - r:
        vy = -vy
