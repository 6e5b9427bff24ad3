# Prompt: "typewriter effect: 'Hello, world' appears letter by letter, green on black"
import os
import sys

from PIL import Image, ImageDraw, ImageFont

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", max(10, H // 8))
msg = "Hello, world"
for i in range(N):
    img = Image.new("RGB", (W, H))
    shown = msg[: (i + 1) * len(msg) // N]
    ImageDraw.Draw(img).text((W // 10, H // 2), shown + "_", font=font, fill=(0, 255, 70))
    sys.stdout.buffer.write(img.tobytes())
