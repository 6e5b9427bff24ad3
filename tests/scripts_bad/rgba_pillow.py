# Prompt: "a logo reveal on a gradient" - the model draws in RGBA and writes it as is.
# expect: fails: every 4th byte of the first frame is 255 and the rest vary: 4-byte pixels with alpha
import os
import sys

from PIL import Image, ImageDraw

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    img = Image.new("RGBA", (W, H), (20, 40, 90, 255))
    d = ImageDraw.Draw(img)
    for y in range(H):
        d.line([(0, y), (W, y)], fill=(20 + y // 2, 40, 90 + y // 3, 255))
    d.ellipse([W / 2 - 30 - i, H / 2 - 30, W / 2 + 30 + i, H / 2 + 30], fill=(255, 200, 0, 255))
    sys.stdout.buffer.write(img.tobytes())
