# Prompt: "smooth colour waves" - the model forgets .astype(np.uint8).
# expect: fails: the first frame reads as float64 numbers, not bytes
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    frame = np.zeros((H, W, 3))
    frame[..., 0] = 127 + 127 * np.sin(xx / 20 + i / 3)
    frame[..., 1] = 127 + 127 * np.sin(yy / 15 + i / 4)
    frame[..., 2] = 200
    sys.stdout.buffer.write(frame.tobytes())
