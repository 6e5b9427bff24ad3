# Prompt: "a loading bar filling up from 0 to 100% with the percentage written above it"
import os
import sys

from PIL import Image, ImageDraw, ImageFont

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", max(9, H // 10))
for i in range(N):
    p = (i + 1) / N
    img = Image.new("RGB", (W, H), (245, 245, 250))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = W * 0.1, H * 0.55, W * 0.9, H * 0.65
    d.rectangle([x0, y0, x1, y1], outline=(80, 80, 90), width=2)
    d.rectangle([x0 + 3, y0 + 3, x0 + 3 + (x1 - x0 - 6) * p, y1 - 3], fill=(40, 160, 90))
    d.text((W / 2, H * 0.4), "%d%%" % round(p * 100), font=font, fill=(30, 30, 30), anchor="mm")
    sys.stdout.buffer.write(img.tobytes())
