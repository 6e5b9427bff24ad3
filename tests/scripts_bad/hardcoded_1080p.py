# Prompt: "an HD intro: blue gradient with a sweeping bar" - the model hard-codes 1920x1080.
# reelbox: --size 256x144 --frames 4
# expect: fails: that is 4 frames of 1920x1080 rgb24: the script hard-codes its size
import sys

import numpy as np

W, H, FRAMES = 1920, 1080, 4
yy, xx = np.mgrid[0:H, 0:W]
base = np.dstack([xx * 0, yy * 200 // H, 80 + xx * 170 // W]).astype(np.uint8)
for i in range(FRAMES):
    f = base.copy()
    x = i * W // FRAMES
    f[:, x:x + 60] = 255
    sys.stdout.buffer.write(f.tobytes())
