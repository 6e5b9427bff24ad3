# Prompt: "diagonal colour ramp" - integer maths in numpy's default int64, never cast.
# expect: fails: the first frame reads as int64 numbers, not bytes
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    frame = np.stack([(xx + i * 3) % 256, (yy * 255) // H, (xx + yy) % 256], axis=-1)
    sys.stdout.buffer.write(frame.tobytes())
