# Prompt: "an animated title background for a 10-second 720p intro: a scrolling
# colour gradient with a bright bar sweeping across, numpy only"
#
# The encode-path benchmark's script (bench/encode.sh): cheap per frame (a slice of a
# precomputed image and a bar), so the measurement is dominated by moving and encoding
# 1280x720 frames, not by drawing them. Deterministic. Raw rgb24 on stdout.
import os
import sys

import numpy as np

W = int(os.environ.get("WIDTH", "1280"))
H = int(os.environ.get("HEIGHT", "720"))
FPS = int(os.environ.get("FPS", "30"))
FRAMES = int(os.environ.get("FRAMES", "300"))
if os.environ.get("PIX_FMT", "rgb24") != "rgb24":
    sys.exit("numpy_720p.py: only PIX_FMT=rgb24 is supported")

# A smooth colour field one screen wide plus one period, drawn once; each frame is a
# window of it that scrolls sideways, with a bright bar sweeping the other way.
PERIOD = 256
ys, xs = np.mgrid[0:H, 0:W + PERIOD].astype(np.float32)
field = (xs * (256 / PERIOD) + ys / H * 96
         + 24 * np.sin(np.hypot(xs - W / 2, ys - H / 2) / (0.05 * min(W, H)))).astype(np.int32)
k = np.arange(256) / 256 * 2 * np.pi
palette = np.stack([96 + 80 * np.cos(k), 96 + 80 * np.cos(k + 2.1), 128 + 100 * np.cos(k + 4.2)],
                   axis=1).astype(np.uint8)
wide = palette[field & 255]
del ys, xs, field
bar_w = max(2, W // 24)


def frame(n):
    s = (n * 4) % PERIOD
    img = wide[:, s:s + W].copy()
    x = W - int((n * W * 1.5 / max(1, FRAMES)) % (W + bar_w))
    img[:, max(0, x):max(0, x + bar_w)] = 255
    return img


def main():
    out = sys.stdout.buffer
    for n in range(FRAMES):
        out.write(frame(n).tobytes())
    out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
