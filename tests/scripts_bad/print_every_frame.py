# Prompt: "moving stripes" - the model prints a progress line per frame with sys.stdout.write.
# expect: fails: the stream starts with the text "frame 1/8"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    sys.stdout.write(f"frame {i + 1}/{N}\n")
    sys.stdout.flush()
    f = ((xx + i * 4) // 16 % 2 * 200).astype(np.uint8)
    sys.stdout.buffer.write(np.dstack([f, f // 2, 255 - f]).tobytes())
    sys.stdout.buffer.flush()
