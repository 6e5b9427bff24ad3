# Prompt: "a black and white checkerboard sliding diagonally"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
cell = 10
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    on = (((xx + i) // cell) + ((yy + i) // cell)) % 2 == 0
    frame = np.where(on[:, :, None], np.uint8(255), np.uint8(0)).repeat(3, axis=2)
    sys.stdout.buffer.write(frame.astype(np.uint8).tobytes())
