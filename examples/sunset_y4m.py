# Prompt: "a sun slowly setting over a calm sea, sky going from orange to purple;
# output a YUV4MPEG2 (y4m) stream so no extra pix_fmt is needed"
#
# Y4M: one stream header line, then per frame "FRAME\n" and the planar Y, U, V planes.
# This script draws in RGB with numpy and converts to YCbCr itself: BT.601, limited
# range (Y 16..235, Cb/Cr 16..240), the convention Y4M readers assume, with 4:2:0
# chroma averaged over 2x2 blocks (C420jpeg: chroma sited at the block centre).
# A Y4M stream describes itself, so PIX_FMT does not apply. Progress to stderr.
import os
import sys

import numpy as np

W = int(os.environ.get("WIDTH", "640"))
H = int(os.environ.get("HEIGHT", "360"))
FPS = float(os.environ.get("FPS", "30"))  # 29.97 for 30000/1001: never int()
FRAMES = int(os.environ.get("FRAMES", str(round(FPS * 5))))

if W % 2 or H % 2:
    sys.exit(f"sunset_y4m.py: 4:2:0 needs an even size, got {W}x{H}")

ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
horizon = H * 0.62


def rgb_frame(n):
    t = n / max(1, FRAMES - 1)  # 0 at the start, 1 at the end, whatever the length
    img = np.zeros((H, W, 3), np.float32)

    # Sky: a vertical gradient whose colours darken toward purple as the sun sinks.
    top = np.array([60, 40, 120]) * (1 - t) + np.array([25, 10, 60]) * t
    low = np.array([255, 150, 60]) * (1 - t) + np.array([180, 60, 90]) * t
    k = np.clip(ys / horizon, 0, 1)[..., None]
    img[:] = top * (1 - k) + low * k

    # Sun: a disc that moves down and reddens, clipped at the horizon.
    r = min(W, H) * 0.11
    sx, sy = W * 0.5, horizon - r * 1.5 + t * r * 2.5
    sun = ((xs - sx) ** 2 + (ys - sy) ** 2 <= r * r) & (ys < horizon)
    img[sun] = np.array([255, 220, 120]) * (1 - t) + np.array([255, 110, 60]) * t

    # Sea: darker below the horizon, with a shimmering reflection column.
    sea = ys >= horizon
    depth = ((ys - horizon) / (H - horizon))[sea][:, None]
    img[sea] = np.array([30, 50, 90]) * (1 - depth) + np.array([5, 10, 30]) * depth
    ripple = 0.5 + 0.5 * np.sin(ys * 0.9 + n * 0.4)
    glow = np.exp(-((xs - sx) / (r * (0.6 + 0.8 * ripple))) ** 2)
    img[sea] += (glow[sea] * (1 - depth[:, 0]) * (1 - 0.6 * t))[:, None] * np.array([200, 120, 60])
    return np.clip(img, 0, 255)


def to_yuv420(rgb):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255

    def sub(c):
        return c.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))

    planes = [y, sub(cb), sub(cr)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def main():
    out = sys.stdout.buffer
    # The header's rate as a fraction: 29.97 is 30000/1001, a whole rate N/1.
    num, den = (round(FPS) * 1000, 1001) if FPS != int(FPS) else (int(FPS), 1)
    out.write(b"YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 C420jpeg\n" % (W, H, num, den))
    for n in range(FRAMES):
        out.write(b"FRAME\n")
        out.write(to_yuv420(rgb_frame(n)))
        if n % max(1, round(FPS)) == 0:
            print(f"sunset_y4m.py: frame {n}/{FRAMES}", file=sys.stderr)
    out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
