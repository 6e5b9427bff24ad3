# Prompt: "make a retro demoscene plasma effect with slowly cycling colours, numpy only"
#
# Classic plasma: a sum of sines over the pixel grid, mapped through a palette that
# rotates with time. Raw frames go to stdout in PIX_FMT; progress goes to stderr.
import os
import sys

import numpy as np

W = int(os.environ.get("WIDTH", "640"))
H = int(os.environ.get("HEIGHT", "360"))
FPS = float(os.environ.get("FPS", "30"))  # 29.97 for 30000/1001: never int()
FRAMES = int(os.environ.get("FRAMES", str(round(FPS * 5))))
PIX_FMT = os.environ.get("PIX_FMT", "rgb24")


def to_bytes(rgb):
    """rgb is an HxWx3 uint8 array; return one frame in PIX_FMT."""
    if PIX_FMT == "rgb24":
        return rgb.tobytes()
    if PIX_FMT == "bgr24":
        return rgb[:, :, ::-1].tobytes()
    if PIX_FMT == "rgba":
        alpha = np.full((H, W, 1), 255, np.uint8)
        return np.concatenate([rgb, alpha], axis=2).tobytes()
    if PIX_FMT == "gray":
        y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(y + 0.5, 0, 255).astype(np.uint8).tobytes()
    sys.exit(f"plasma.py: unsupported PIX_FMT {PIX_FMT!r} (use rgb24, bgr24, rgba or gray)")


# Coordinates scaled so the pattern looks the same at any resolution.
scale = 8.0 / min(W, H)
ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
xs *= scale
ys *= scale
cx, cy = xs.mean(), ys.mean()
radius = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)

# A 256-entry palette built from three phase-shifted cosines.
k = np.arange(256, dtype=np.float32) / 256.0 * 2 * np.pi
palette = np.stack([
    128 + 127 * np.cos(k),
    128 + 127 * np.cos(k + 2.094),
    128 + 127 * np.cos(k + 4.189),
], axis=1).astype(np.uint8)


def frame(n):
    t = n / FPS
    v = (np.sin(xs + t * 1.3)
         + np.sin((ys + t) * 0.8)
         + np.sin((xs + ys) * 0.6 + t * 0.7)
         + np.sin(radius * 1.5 - t * 2.0))
    idx = ((v + 4.0) * 32.0 + n * 2).astype(np.int32) & 255
    return palette[idx]


def main():
    out = sys.stdout.buffer
    for n in range(FRAMES):
        out.write(to_bytes(frame(n)))
        if n % max(1, round(FPS)) == 0:
            print(f"plasma.py: frame {n}/{FRAMES}", file=sys.stderr)
    out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
