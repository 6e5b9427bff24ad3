# Prompt: "Y4M output of a fading grey" - a progress print lands inside the Y4M stream.
# expect: fails: Y4M frame 2 does not start with FRAME
import os
import sys

W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
out = sys.stdout.buffer
out.write(b"YUV4MPEG2 W%d H%d F10:1 C420jpeg\n" % (W, H))
for i in range(N):
    out.write(b"FRAME\n" + bytes([40 + i * 20]) * (W * H) + b"\x80" * (W * H // 2))
    out.flush()
    print("wrote frame", i, flush=True)
