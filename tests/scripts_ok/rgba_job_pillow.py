# Prompt: "a semi-transparent overlay badge, rendered as RGBA with Pillow"
# reelbox: --pix-fmt rgba
import os
import sys

from PIL import Image, ImageDraw

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(N):
    img = Image.new("RGBA", (W, H), (255, 255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([W * 0.2, H * 0.3, W * 0.8, H * 0.7], radius=12, fill=(200, 40, 90, 255))
    d.ellipse([i * 4, 10, i * 4 + 30, 40], fill=(20, 120, 250, 255))
    sys.stdout.buffer.write(img.tobytes())
