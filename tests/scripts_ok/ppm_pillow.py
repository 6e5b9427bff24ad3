# Prompt: "write the frames as a PPM stream with Pillow: concentric circles pulsing"
import io
import os
import sys

from PIL import Image, ImageDraw

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    img = Image.new("RGB", (W, H), "black")
    d = ImageDraw.Draw(img)
    for k in range(8, 0, -1):
        r = k * min(W, H) / 16 + (i % 5) * 2
        c = (k * 30 % 256, 255 - k * 25, 120)
        d.ellipse([W / 2 - r, H / 2 - r, W / 2 + r, H / 2 + r], fill=c)
    buf = io.BytesIO()
    img.save(buf, format="PPM")
    sys.stdout.buffer.write(buf.getvalue())
