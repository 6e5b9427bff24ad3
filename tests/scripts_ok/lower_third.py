# Prompt: "a news-style lower third sliding in: name and title over a gradient background"
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
bold = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", max(9, H // 12))
thin = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", max(8, H // 16))
yy, xx = np.mgrid[0:H, 0:W]
bg = np.dstack([60 + 100 * xx / W, 90 + 60 * yy / H, 140 + 0 * xx]).astype(np.uint8)
for i in range(N):
    img = Image.fromarray(bg, "RGB")
    d = ImageDraw.Draw(img)
    x = int(-W * 0.6 + W * 0.65 * min(1, (i + 1) / (N * 0.6)))
    d.rectangle([x, H * 0.7, x + W * 0.6, H * 0.9], fill=(200, 30, 40))
    d.text((x + 8, H * 0.72), "Jane Doe", font=bold, fill="white")
    d.text((x + 8, H * 0.81), "Lead engineer", font=thin, fill=(255, 220, 220))
    sys.stdout.buffer.write(img.tobytes())
