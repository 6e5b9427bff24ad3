# Prompt: "an expanding ring; log progress"
import logging
import os
import sys

import numpy as np

logging.basicConfig(level=logging.INFO)  # logs go to stderr by default
W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
d = np.hypot(xx - W / 2, yy - H / 2)
logging.info("rendering %d frames at %dx%d", N, W, H)
for i in range(N):
    ring = np.abs(d - i * 4) < 3
    f = np.zeros((H, W, 3), np.uint8)
    f[..., 2] = 40
    f[ring] = (255, 200, 0)
    sys.stdout.buffer.write(f.tobytes())
    logging.info("frame %d done", i)
