# Prompt: "a red ball bouncing on a floor with a soft shadow; write the frames as a
# stream of binary PPM (P6) images"
#
# Each frame is a complete P6 image: "P6\n<w> <h>\n255\n" followed by w*h*3 bytes of
# RGB. A PPM stream describes itself, so PIX_FMT does not apply. Progress to stderr.
import os
import sys

import numpy as np

W = int(os.environ.get("WIDTH", "640"))
H = int(os.environ.get("HEIGHT", "360"))
FPS = float(os.environ.get("FPS", "30"))  # 29.97 for 30000/1001: never int()
FRAMES = int(os.environ.get("FRAMES", str(round(FPS * 5))))

HEADER = b"P6\n%d %d\n255\n" % (W, H)

ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
floor_y = H * 0.8
r = min(W, H) * 0.09

# Static background: a sky gradient above a tiled floor.
bg = np.zeros((H, W, 3), np.float32)
sky = ys / floor_y
bg[..., 0] = 40 + 60 * sky
bg[..., 1] = 60 + 90 * sky
bg[..., 2] = 120 + 110 * sky
tiles = ((xs // max(1, W // 16)).astype(int) + (ys // max(1, H // 24)).astype(int)) % 2
floor = ys >= floor_y
bg[floor] = np.where(tiles[floor, None] == 1, [90, 80, 70], [120, 110, 95])


def ball_position(n):
    """A ball that falls and bounces forever: |sin| gives the height, the x drifts."""
    t = n / FPS
    height = abs(np.sin(t * 2.2)) * (floor_y - r - H * 0.1)
    x = r + (W - 2 * r) * (0.5 + 0.45 * np.sin(t * 0.7))
    return x, floor_y - r - height, height


def frame(n):
    bx, by, height = ball_position(n)
    img = bg.copy()

    # Shadow: a dark ellipse on the floor that shrinks as the ball rises.
    spread = 1.0 - 0.6 * height / max(1.0, floor_y)
    sx, sy = r * 1.2 * spread, r * 0.3 * spread
    d = ((xs - bx) / sx) ** 2 + ((ys - floor_y) / max(1.0, sy)) ** 2
    shade = np.clip(1.0 - d, 0.0, 1.0)[..., None] * 0.5
    img *= 1.0 - shade

    # Ball: red with a simple highlight toward the upper left.
    dist2 = (xs - bx) ** 2 + (ys - by) ** 2
    inside = dist2 <= r * r
    hx, hy = bx - r * 0.35, by - r * 0.35
    light = np.clip(1.0 - np.sqrt((xs - hx) ** 2 + (ys - hy) ** 2) / (1.6 * r), 0.0, 1.0)
    img[inside, 0] = 150 + 105 * light[inside]
    img[inside, 1] = 20 + 120 * light[inside] ** 3
    img[inside, 2] = 20 + 120 * light[inside] ** 3
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    out = sys.stdout.buffer
    for n in range(FRAMES):
        out.write(HEADER)
        out.write(frame(n).tobytes())
        if n % max(1, round(FPS)) == 0:
            print(f"bouncing_ball_ppm.py: frame {n}/{FRAMES}", file=sys.stderr)
    out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
