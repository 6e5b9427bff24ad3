# Prompt: "a starfield flying towards the camera, black space, white stars"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
rng = np.random.default_rng(3)
stars = rng.uniform(-1, 1, (300, 3))
stars[:, 2] = rng.uniform(0.1, 1, 300)
for _ in range(N):
    f = np.zeros((H, W, 3), np.uint8)
    sx = (stars[:, 0] / stars[:, 2] * W / 2 + W / 2).astype(int)
    sy = (stars[:, 1] / stars[:, 2] * H / 2 + H / 2).astype(int)
    ok = (sx >= 0) & (sx < W - 1) & (sy >= 0) & (sy < H - 1)
    b = (255 * (1 - stars[ok, 2])).astype(np.uint8)
    for dx in (0, 1):
        for dy in (0, 1):
            f[sy[ok] + dy, sx[ok] + dx] = b[:, None]
    sys.stdout.buffer.write(f.tobytes())
    stars[:, 2] -= 0.02
    stars[stars[:, 2] <= 0.05, 2] = 1
