# Prompt: "radial gradient pulse, compute in float and convert properly"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
r = np.hypot(xx - W / 2, yy - H / 2) / np.hypot(W / 2, H / 2)
for i in range(N):
    pulse = 0.5 + 0.5 * np.cos(2 * np.pi * (r * 3 - i / 12))
    img = np.stack([pulse, pulse * 0.6, 1 - pulse], axis=-1)  # float64 0..1
    sys.stdout.buffer.write((img * 255).round().astype(np.uint8).tobytes())
