#!/usr/bin/env python3
# Positive: numpy and Pillow import and draw (shapes and text in DejaVu), and frames go
# out as rgb24 bytes.
# Expected: the job succeeds with every frame.
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H = int(os.environ.get("WIDTH", "64")), int(os.environ.get("HEIGHT", "48"))
FRAMES = int(os.environ.get("FRAMES", "5"))
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 12)
for i in range(FRAMES):
    yy, xx = np.mgrid[0:H, 0:W]
    arr = np.stack([(xx * 4 + i * 10) % 256, (yy * 5) % 256, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse([4 + i, 4, 24 + i, 24], fill=(255, 255, 0))
    d.text((2, H - 16), "f%d" % i, font=font, fill=(255, 255, 255))
    sys.stdout.buffer.write(img.tobytes())
sys.stdout.buffer.flush()
print("numpy %s, Pillow drew %d frames" % (np.__version__, FRAMES), file=sys.stderr)
