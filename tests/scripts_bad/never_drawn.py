# Prompt: "a white square moving right" - the drawing goes into a copy; zeros go out.
# expect: warns: all 8 frames are solid black
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
frame = np.zeros((H, W, 3), np.uint8)
for i in range(N):
    canvas = frame.copy()
    canvas[50:80, 10 + i * 5:40 + i * 5] = 255
    sys.stdout.buffer.write(frame.tobytes())  # meant canvas
