# Prompt: "zoom into the mandelbrot set, numpy vectorised"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
cx, cy = -0.743643887, 0.131825904
for f in range(N):
    scale = 3.0 * 0.85 ** f
    x = np.linspace(cx - scale, cx + scale, W)
    y = np.linspace(cy - scale * H / W, cy + scale * H / W, H)
    c = x[None, :] + 1j * y[:, None]
    z = np.zeros_like(c)
    it = np.zeros(c.shape, np.int32)
    for k in range(40):
        m = np.abs(z) <= 2
        z[m] = z[m] ** 2 + c[m]
        it[m] += 1
    t = it / 40.0
    rgb = np.dstack([9 * (1 - t) * t ** 3, 15 * (1 - t) ** 2 * t ** 2, 8.5 * (1 - t) ** 3 * t])
    sys.stdout.buffer.write((np.clip(rgb, 0, 1) * 255).astype(np.uint8).tobytes())
