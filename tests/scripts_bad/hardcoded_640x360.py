# Prompt: "a bouncing green square on a dusk gradient" - the model hard-codes 640x360
# while the job asks 320x180.
# expect: fails: exactly FRAMES (8) frames of another shape, and the first frame's rows agree: that is 8 frames of 640x360 rgb24: the script hard-codes its size
import sys

import numpy as np

WIDTH, HEIGHT, FRAMES = 640, 360, 8
yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
sky = np.dstack([40 + xx * 150 // WIDTH, 20 + yy * 60 // HEIGHT, 120 - xx * 80 // WIDTH]).astype(np.uint8)
for i in range(FRAMES):
    f = sky.copy()
    x = 40 + i * 50
    f[120:220, x:x + 100] = (40, 220, 80)
    sys.stdout.buffer.write(f.tobytes())
