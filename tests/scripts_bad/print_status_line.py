# Prompt: "a teal gradient sweeping right" - the model prints a status line to stdout.
# expect: fails: bytes more than 8 frames of 320x180 rgb24: the stream starts with the text "Rendering 8 frames at 320x180"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
print(f"Rendering {N} frames at {W}x{H}", flush=True)
x = np.linspace(0, 255, W)
for i in range(N):
    row = np.stack([np.zeros(W), (x + i * 10) % 256, 255 - x], -1)
    sys.stdout.buffer.write(np.repeat(row[None], H, 0).astype(np.uint8).tobytes())
