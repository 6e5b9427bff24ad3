# Prompt: "grey background with a thin dark vertical line sweeping across"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    f = np.full((H, W, 3), 80, np.uint8)
    x = 20 + i * 3
    f[:, x:x + 1] = 10
    sys.stdout.buffer.write(f.tobytes())
