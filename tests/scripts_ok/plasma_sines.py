# Prompt: "classic demoscene plasma effect, animated, python + numpy"
import math
import os
import sys

import numpy as np

W = int(os.environ.get("WIDTH", 640))
H = int(os.environ.get("HEIGHT", 360))
FPS = float(os.environ.get("FPS", 30))
N = int(os.environ.get("FRAMES", round(FPS * 4)))

yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
out = sys.stdout.buffer
for f in range(N):
    t = f / FPS
    v = (np.sin(xx / 16 + t) + np.sin(yy / 8 + t * 1.3) + np.sin((xx + yy) / 20 + t * 0.7)
         + np.sin(np.hypot(xx - W / 2, yy - H / 2) / 10 - t * 2))
    r = (128 + 127 * np.sin(v * math.pi)).astype(np.uint8)
    g = (128 + 127 * np.sin(v * math.pi + 2)).astype(np.uint8)
    b = (128 + 127 * np.sin(v * math.pi + 4)).astype(np.uint8)
    out.write(np.dstack([r, g, b]).tobytes())
out.flush()
