# Prompt: "old TV static noise for a few seconds"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
rng = np.random.default_rng(1)
for _ in range(N):
    grey = rng.integers(0, 256, size=(H, W), dtype=np.uint8)
    sys.stdout.buffer.write(np.repeat(grey[:, :, None], 3, axis=2).tobytes())
