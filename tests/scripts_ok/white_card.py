# Prompt: "a plain white frame for a few seconds"
import os
import sys

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
frame = b"\xff" * (W * H * 3)
for _ in range(N):
    sys.stdout.buffer.write(frame)
