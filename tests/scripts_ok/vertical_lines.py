# Prompt: "thin black vertical lines on white, like a barcode scanner sweep"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    f = np.full((H, W, 3), 255, np.uint8)
    f[:, ::8] = 0
    x = (i * 5) % W
    f[:, x:x + 3] = (255, 0, 0)
    sys.stdout.buffer.write(f.tobytes())
