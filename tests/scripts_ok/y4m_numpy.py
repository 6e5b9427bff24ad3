# Prompt: "write a Y4M stream directly (YUV 4:2:0): a moving bright bar on a dark background"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
FPS = int(os.environ["FPS"])
out = sys.stdout.buffer
out.write(b"YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n" % (W, H, FPS))
for i in range(N):
    y = np.full((H, W), 30, np.uint8)
    x = (i * 9) % W
    y[:, x:x + W // 10] = 220
    u = np.full((H // 2, W // 2), 128, np.uint8)
    v = np.full((H // 2, W // 2), 150, np.uint8)
    out.write(b"FRAME\n")
    out.write(y.tobytes() + u.tobytes() + v.tobytes())
