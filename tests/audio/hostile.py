# What the job names as its audio is made hostile by HOW: symlink_out (to /etc/passwd),
# symlink_in (to a real WAV beside it in scratch), fifo, dir, socket, missing, corrupt.
import os, socket, sys, wave

S = os.environ["SCRATCH"]
how = os.environ.get("HOW", "missing")
p = os.path.join(S, "audio.wav")
if how == "symlink_out":
    os.symlink("/etc/passwd", p)
elif how == "symlink_in":
    with wave.open(os.path.join(S, "real.wav"), "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(48000)
        w.writeframes(bytes(96000))
    os.symlink("real.wav", p)
elif how == "fifo":
    os.mkfifo(p)
elif how == "dir":
    os.mkdir(p)
elif how == "socket":
    socket.socket(socket.AF_UNIX).bind(p)
elif how == "corrupt":
    with open(p, "wb") as f:
        f.write(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 4000)
n = int(os.environ["FRAMES"]) * int(os.environ["WIDTH"]) * int(os.environ["HEIGHT"]) * 3
sys.stdout.buffer.write(bytes(n))
