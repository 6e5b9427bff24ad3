# A sine sweep (200 Hz to 2 kHz, mono, 48 kHz, 16-bit) written with Python's wave module
# as $SCRATCH/audio.wav, AUDIO_SECS long (default: the video's length), and grey frames.
import os, sys, wave
import numpy as np

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
fps = float(os.environ["FPS"])
secs = float(os.environ.get("AUDIO_SECS") or N / fps)
rate = 48000
t = np.arange(int(round(secs * rate))) / rate
freq = 200 + 1800 * t / secs
pcm = (0.5 * 32767 * np.sin(2 * np.pi * np.cumsum(freq) / rate)).astype("<i2")
with wave.open(os.path.join(os.environ["SCRATCH"], "audio.wav"), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(pcm.tobytes())
frame = np.zeros((H, W, 3), np.uint8)
for i in range(N):
    frame[:] = 40 + i % 100
    sys.stdout.buffer.write(frame.tobytes())
