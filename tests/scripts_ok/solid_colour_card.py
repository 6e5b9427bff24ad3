# Prompt: "five seconds of plain teal, nothing else (a colour slate for the editor)"
import os
import sys

from PIL import Image

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
slate = Image.new("RGB", (W, H), (0, 128, 128)).tobytes()
for _ in range(N):
    sys.stdout.buffer.write(slate)
