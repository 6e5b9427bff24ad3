# Prompt: "a smooth horizontal colour gradient that scrolls to the left, numpy"
import os
import sys

import numpy as np

W, H = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
FRAMES = int(os.environ["FRAMES"])

x = np.arange(W, dtype=np.float32)
for i in range(FRAMES):
    t = (x / W + i / max(FRAMES, 1)) % 1.0
    row = np.stack([255 * t, 255 * (1 - t), 128 + 127 * np.sin(2 * np.pi * t)], axis=-1)
    frame = np.repeat(row[None, :, :], H, axis=0).astype(np.uint8)
    sys.stdout.buffer.write(frame.tobytes())
