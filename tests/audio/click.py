# A/V sync: frame FLASH (default 37) is white, every other frame black; the audio is
# silence with a click (8 samples at full scale) starting exactly at FLASH/FPS seconds.
import os, sys, wave
import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
fps = float(os.environ["FPS"])
k = int(os.environ.get("FLASH", "37"))
rate = 48000
pcm = np.zeros(int(round(N / fps * rate)), "<i2")
at = int(round(k / fps * rate))
pcm[at:at + 8] = 32767
with wave.open(os.path.join(os.environ["SCRATCH"], "audio.wav"), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(pcm.tobytes())
black, white = bytes(W * H * 3), b"\xff" * (W * H * 3)
for i in range(N):
    sys.stdout.buffer.write(white if i == k else black)
