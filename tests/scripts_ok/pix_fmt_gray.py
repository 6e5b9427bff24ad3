# Prompt: "a diagonal gradient that honours PIX_FMT (rgb24, bgr24, rgba, gray)"
# reelbox: --pix-fmt gray
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
fmt = os.environ.get("PIX_FMT", "rgb24")
yy, xx = np.mgrid[0:H, 0:W]
for i in range(N):
    r = ((xx + yy + i * 5) % 256).astype(np.uint8)
    g = ((xx * 2) % 256).astype(np.uint8)
    b = np.full_like(r, 90)
    if fmt == "gray":
        f = r
    elif fmt == "bgr24":
        f = np.dstack([b, g, r])
    elif fmt == "rgba":
        f = np.dstack([r, g, b, np.full_like(r, 255)])
    else:
        f = np.dstack([r, g, b])
    sys.stdout.buffer.write(f.tobytes())
