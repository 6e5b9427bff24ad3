#!/usr/bin/env python3
# Positive: system fonts are readable (/usr/share/fonts, DejaVu) and fontconfig's
# fc-list (if installed) finds them; Pillow renders text with one.
# Expected: the job succeeds.
#@include _lib.py
import glob

fonts = glob.glob("/usr/share/fonts/**/*.ttf", recursive=True)
log("%d ttf fonts, e.g. %s" % (len(fonts), fonts[:2]))
assert fonts, "no fonts under /usr/share/fonts"
with open("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "rb") as f:
    assert f.read(4) in (b"\x00\x01\x00\x00", b"true")
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

img = Image.new("RGB", (W, H))
ImageDraw.Draw(img).text((1, 1), "Ag", font=ImageFont.truetype(fonts[0], 20), fill=(255, 255, 255))
assert img.getbbox() is not None, "text rendered nothing"
finish()
