# Prompt: "fade in from black to an orange sunset gradient"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
y = np.linspace(0, 1, H, dtype=np.float32)[:, None]
sky = np.dstack([255 * (0.9 - 0.3 * y), 120 + 60 * y, 40 + 120 * (1 - y)]) * np.ones((1, W, 1))
for i in range(N):
    a = i / max(1, N - 1)
    sys.stdout.buffer.write((sky * a).astype(np.uint8).tobytes())
