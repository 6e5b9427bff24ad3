# Prompt: "a sunrise: yellow disc rising over a red sky" - Image.new gets (height, width).
# expect: warns: rows of the first frame line up every 180 pixels, not 320
import os
import sys

from PIL import Image, ImageDraw

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    img = Image.new("RGB", (H, W))  # (height, width): the wrong way round
    d = ImageDraw.Draw(img)
    for y in range(W):
        d.line([(0, y), (H, y)], fill=(200, 40 + y * 100 // W, 30))
    d.ellipse([H / 2 - 25, W - i * 12 - 25, H / 2 + 25, W - i * 12 + 25], fill=(255, 230, 0))
    sys.stdout.buffer.write(img.tobytes())
