# Prompt: "a 3-2-1 countdown, big numbers, white circle behind them"
import os
import sys

from PIL import Image, ImageDraw, ImageFont

W, H = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
FPS, N = float(os.environ["FPS"]), int(os.environ["FRAMES"])
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", H // 2)
for i in range(N):
    n = 3 - (3 * i) // N
    img = Image.new("RGB", (W, H), (40, 40, 40))
    d = ImageDraw.Draw(img)
    r = H * 0.4
    d.ellipse([W / 2 - r, H / 2 - r, W / 2 + r, H / 2 + r], fill=(235, 235, 235))
    d.text((W / 2, H / 2), str(n), font=font, fill=(20, 20, 20), anchor="mm")
    sys.stdout.buffer.write(img.tobytes())
