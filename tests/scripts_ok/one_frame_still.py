# Prompt: "a single still frame: a blue-to-white sky gradient"
# reelbox: --frames 1
import os
import sys

import numpy as np

W, H = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
t = np.linspace(0, 1, H)[:, None, None]
sky = (np.array([40, 90, 200]) * (1 - t) + np.array([255, 255, 255]) * t) * np.ones((1, W, 1))
sys.stdout.buffer.write(sky.astype(np.uint8).tobytes())
