# Prompt: "an endless lava lamp loop" (the script never stops; reelbox's frame count ends it)
import os
import sys

import numpy as np

W, H = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
t = 0.0
while True:
    v = np.sin(xx / 23 + t) + np.sin(yy / 17 - t * 0.8) + np.sin((xx + yy) / 31 + t * 0.5)
    f = np.dstack([150 + 100 * np.sin(v), 50 + 40 * np.cos(v), 30 + 20 * v])
    sys.stdout.buffer.write(np.clip(f, 0, 255).astype(np.uint8).tobytes())
    t += 0.1
