# Prompt: "a title card: 'Chapter One' in white on a navy background, held still"
import os
import sys

from PIL import Image, ImageDraw, ImageFont

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", max(10, H // 6))
img = Image.new("RGB", (W, H), (20, 30, 80))
d = ImageDraw.Draw(img)
text = "Chapter One"
l, t, r, b = d.textbbox((0, 0), text, font=font)
d.text(((W - (r - l)) / 2, (H - (b - t)) / 2), text, font=font, fill=(255, 255, 255))
data = img.tobytes()
for _ in range(N):
    sys.stdout.buffer.write(data)
