# Prompt: "a pulsing magenta background as Y4M, printing progress as it goes"
import os
import sys

import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
out = sys.stdout.buffer
out.write(b"YUV4MPEG2 W%d H%d F25:1 C444\n" % (W, H))
for i in range(N):
    print("frame %d/%d" % (i + 1, N), file=sys.stderr)
    level = int(100 + 80 * np.sin(i / 3))
    planes = [np.full((H, W), level, np.uint8), np.full((H, W), 170, np.uint8),
              np.full((H, W), 200, np.uint8)]
    out.write(b"FRAME\n" + b"".join(p.tobytes() for p in planes))
