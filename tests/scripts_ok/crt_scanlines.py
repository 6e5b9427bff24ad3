# Prompt: "retro CRT look: a green gradient with dark scanlines on every other row"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    ramp = np.linspace(40, 220, W, dtype=np.float32)
    img = np.zeros((H, W, 3), np.float32)
    img[:, :, 1] = ramp[None, :] * (0.8 + 0.2 * np.sin(i / 3))
    img[:, :, 0] = ramp[None, :] * 0.2
    img[1::2] *= 0.35  # scanlines
    sys.stdout.buffer.write(img.clip(0, 255).astype(np.uint8).tobytes())
