# Prompt: "two seconds of a colour wheel spinning" (the script makes its own frame count)
import os
import sys

import numpy as np

W, H, FPS = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), float(os.environ["FPS"])
yy, xx = np.mgrid[0:H, 0:W]
ang = np.arctan2(yy - H / 2, xx - W / 2)
for i in range(int(os.environ["FRAMES"]) + 4):  # a few more than asked: the ceiling cuts them
    h = (ang + i * 0.2) % (2 * np.pi) / (2 * np.pi)
    rgb = np.stack([np.abs(h * 6 - 3) - 1, 2 - np.abs(h * 6 - 2), 2 - np.abs(h * 6 - 4)], -1)
    sys.stdout.buffer.write((np.clip(rgb, 0, 1) * 255).astype(np.uint8).tobytes())
