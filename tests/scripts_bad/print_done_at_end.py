# Prompt: "pulsing red circle" - the model prints "Done!" to stdout at the end.
# expect: fails: 5 bytes more than 8 frames of 320x180 rgb24: its last 5 bytes are the text "Done!"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    r = 20 + 10 * np.sin(i / 2)
    f = np.zeros((H, W, 3), np.uint8)
    f[..., 1] = 30
    f[(xx - W / 2) ** 2 + (yy - H / 2) ** 2 < r * r] = (230, 30, 30)
    sys.stdout.buffer.write(f.tobytes())
sys.stdout.buffer.flush()
print("Done!", end="")
