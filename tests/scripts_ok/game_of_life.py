# Prompt: "Conway's game of life, white cells on black, 4 pixel cells"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
cell = 4
rng = np.random.default_rng(7)
grid = rng.random((H // cell, W // cell)) < 0.3
for _ in range(N):
    img = np.kron(grid.astype(np.uint8) * 255, np.ones((cell, cell), np.uint8))
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:img.shape[0], :img.shape[1]] = img[:, :, None]
    sys.stdout.buffer.write(frame.tobytes())
    n = sum(np.roll(np.roll(grid, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0))
    grid = (n == 3) | (grid & (n == 2))
