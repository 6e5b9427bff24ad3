# Prompt: "random coloured noise, every pixel a random colour"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    sys.stdout.buffer.write(np.random.randint(0, 256, (H, W, 3), dtype=np.uint8).tobytes())
