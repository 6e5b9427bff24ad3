# Prompt: "diagonal blue lines and a green square" - Pillow canvas hard-coded at 640x360
# while the job asks 320x180.
# expect: warns: the script wrote exactly FRAMES (8) frames of another shape: that is 8 frames of 640x360 rgb24: does the script hard-code its size?
import sys

from PIL import Image, ImageDraw

WIDTH, HEIGHT, FRAMES = 640, 360, 8
for i in range(FRAMES):
    img = Image.new("RGB", (WIDTH, HEIGHT))
    d = ImageDraw.Draw(img)
    for k in range(0, HEIGHT, 24):
        d.line([(0, k), (WIDTH, k + 40)], fill=(60, 60, 140), width=3)
    x = 40 + i * 50
    d.rectangle([x, 100, x + 120, 220], fill=(40, 220, 80))
    sys.stdout.buffer.write(img.tobytes())
