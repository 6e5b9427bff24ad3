# Prompt: "a subtle dark grey vignette background for a video intro, breathing slowly"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
d = np.hypot((xx - W / 2) / W, (yy - H / 2) / H)
for i in range(N):
    v = 70 - 14 * d * (1 + 0.1 * np.sin(i / 4))
    sys.stdout.buffer.write(np.repeat(v[:, :, None], 3, axis=2).astype(np.uint8).tobytes())
