# Prompt: "a 5-second explainer of a cache miss: the CPU asks L1, then L2, then RAM,
# with labelled boxes, a request that travels between them and a latency counter"
#
# Pillow drawing: rectangles, lines, an ellipse and text (DejaVu Sans when it is
# installed, Pillow's built-in bitmap font otherwise). Raw frames go to stdout in
# PIX_FMT; progress goes to stderr.
import os
import sys

from PIL import Image, ImageDraw, ImageFont

W = int(os.environ.get("WIDTH", "640"))
H = int(os.environ.get("HEIGHT", "360"))
FPS = float(os.environ.get("FPS", "30"))  # 29.97 for 30000/1001: never int()
FRAMES = int(os.environ.get("FRAMES", str(round(FPS * 5))))
PIX_FMT = os.environ.get("PIX_FMT", "rgb24")

FONT_DIR = "/usr/share/fonts/truetype/dejavu"


def load_font(name, size):
    try:
        return ImageFont.truetype(os.path.join(FONT_DIR, name), size)
    except OSError:
        return ImageFont.load_default()


def to_bytes(img):
    if PIX_FMT == "rgb24":
        return img.tobytes()
    if PIX_FMT == "bgr24":
        return img.tobytes("raw", "BGR")
    if PIX_FMT == "rgba":
        return img.convert("RGBA").tobytes()
    if PIX_FMT == "gray":
        return img.convert("L").tobytes()
    sys.exit(f"cache_miss.py: unsupported PIX_FMT {PIX_FMT!r} (use rgb24, bgr24, rgba or gray)")


# The memory hierarchy, left to right, with the cost of a trip to each level.
LEVELS = [
    ("CPU", (70, 130, 180), 0),
    ("L1", (60, 179, 113), 4),
    ("L2", (218, 165, 32), 12),
    ("RAM", (205, 92, 92), 200),
]

unit = min(W, H)
title_font = load_font("DejaVuSans-Bold.ttf", max(10, unit // 14))
label_font = load_font("DejaVuSans-Bold.ttf", max(8, unit // 18))
small_font = load_font("DejaVuSans.ttf", max(8, unit // 24))

box_w = W // 6
box_h = H // 4
gap = (W - len(LEVELS) * box_w) // (len(LEVELS) + 1)
box_y = H // 2 - box_h // 2
boxes = []
for i, _ in enumerate(LEVELS):
    x0 = gap + i * (box_w + gap)
    boxes.append((x0, box_y, x0 + box_w, box_y + box_h))


def centre(box):
    return ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)


def text_centred(draw, xy, text, font, fill):
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((xy[0] - (right - left) // 2, xy[1] - (bottom - top) // 2 - top), text,
              font=font, fill=fill)


# The request's journey as (from level, to level, outcome) legs; each leg takes an
# equal share of the video.
LEGS = [(0, 1, "miss"), (1, 2, "miss"), (2, 3, "hit"), (3, 0, "data")]


def frame(n):
    img = Image.new("RGB", (W, H), (18, 20, 28))
    d = ImageDraw.Draw(img)
    text_centred(d, (W // 2, H // 8), "What is a cache miss?", title_font, (235, 235, 235))

    t = n / max(1, FRAMES - 1)
    leg_f = min(t * len(LEGS), len(LEGS) - 1e-9)
    leg = int(leg_f)
    u = leg_f - leg
    src, dst, outcome = LEGS[leg]

    for i, (name, colour, _) in enumerate(LEVELS):
        b = boxes[i]
        active = i in (src, dst)
        fill = colour if active else tuple(c // 3 for c in colour)
        d.rounded_rectangle(b, radius=max(2, unit // 40), fill=fill,
                            outline=(240, 240, 240), width=max(1, unit // 120))
        text_centred(d, centre(b), name, label_font, (255, 255, 255))
        if i + 1 < len(LEVELS):
            y = centre(b)[1]
            d.line((b[2], y, boxes[i + 1][0], y), fill=(120, 120, 140), width=max(1, unit // 100))

    # The request travels along the line between the two boxes of this leg.
    (x0, y0), (x1, y1) = centre(boxes[src]), centre(boxes[dst])
    arc = -box_h if dst < src else 0
    px = x0 + (x1 - x0) * u
    py = y0 + (y1 - y0) * u + arc * 4 * u * (1 - u)
    r = max(3, unit // 30)
    dot = (255, 255, 255) if outcome != "data" else (255, 215, 0)
    d.ellipse((px - r, py - r, px + r, py + r), fill=dot)

    cycles = sum(LEVELS[b][2] for (_, b, _) in LEGS[:leg]) + int(LEVELS[dst][2] * u)
    name = LEVELS[dst][0]
    if outcome == "data":
        status = "the data travels back to the CPU"
    elif u < 0.6:
        status = f"asking {name}..."
    else:
        status = f"{name}: miss!" if outcome == "miss" else f"{name}: found it"
    text_centred(d, (W // 2, H - H // 5), status, small_font, (220, 220, 220))
    text_centred(d, (W // 2, H - H // 10), f"latency: {cycles} cycles", small_font, (255, 200, 120))
    return img


def main():
    out = sys.stdout.buffer
    for n in range(FRAMES):
        out.write(to_bytes(frame(n)))
        if n % max(1, round(FPS)) == 0:
            print(f"cache_miss.py: frame {n}/{FRAMES}", file=sys.stderr)
    out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        # The reader has enough frames; leave quietly and keep Python from
        # complaining about the failed flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
