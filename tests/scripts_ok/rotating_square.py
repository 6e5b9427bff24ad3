# Prompt: "a yellow square spinning in the middle of a purple background, with Pillow"
import math
import os
import sys

from PIL import Image, ImageDraw

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
s = min(W, H) / 3
for i in range(N):
    img = Image.new("RGB", (W, H), (70, 20, 90))
    a = i * 0.15
    pts = [(W / 2 + s * math.cos(a + k * math.pi / 2), H / 2 + s * math.sin(a + k * math.pi / 2))
           for k in range(4)]
    ImageDraw.Draw(img).polygon(pts, fill=(250, 220, 40))
    sys.stdout.buffer.write(img.tobytes())
