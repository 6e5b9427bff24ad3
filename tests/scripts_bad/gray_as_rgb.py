# Prompt: "a greyscale ripple" - Pillow mode "L" bytes sent as rgb24.
# expect: fails: 57,600 bytes a frame is 320x180x1: gray pixels?
import math
import os
import sys

from PIL import Image

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    img = Image.new("L", (W, H))
    px = img.load()
    for y in range(0, H):
        for x in range(0, W):
            px[x, y] = int(128 + 120 * math.sin(math.hypot(x - W / 2, y - H / 2) / 6 - i))
    sys.stdout.buffer.write(img.tobytes())
