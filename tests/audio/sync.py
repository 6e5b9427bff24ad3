# sync.py FILE: when the flash (the brightest video frame) and the click (the first audio
# sample above half scale) happen in FILE, on the container's own timeline, as decoded by
# the ffmpeg CLI. Prints "t_flash t_click" in seconds. Frame and sample times come from
# ffprobe's decoded frames (their best-effort timestamps), so a codec's priming (AAC's
# edit list, Opus's pre-skip) and a muxer's shift count as a player would count them.
import json, subprocess, sys

f = sys.argv[1]


def frames(kind):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", kind, "-show_frames",
                          "-show_entries", "frame=best_effort_timestamp_time,nb_samples",
                          "-of", "json", f], check=True, capture_output=True).stdout
    return json.loads(out)["frames"]


def raw(args):
    return subprocess.run(["ffmpeg", "-v", "error", "-i", f] + args + ["-"], check=True,
                          capture_output=True).stdout


vf = frames("v:0")
w, h = map(int, subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                                "-show_entries", "stream=width,height", "-of", "csv=p=0", f],
                               check=True, capture_output=True, text=True).stdout.split(","))
grey = raw(["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray"])
size = w * h
means = [sum(grey[i * size:(i + 1) * size]) / size for i in range(len(grey) // size)]
k = max(range(len(means)), key=means.__getitem__)
t_flash = float(vf[k]["best_effort_timestamp_time"])

import array
pcm = array.array("f", raw(["-map", "0:a:0", "-ac", "1", "-f", "f32le"]))
i = next(n for n, s in enumerate(pcm) if abs(s) > 0.5)
t_click = None
for fr in frames("a:0"):
    n = int(fr["nb_samples"])
    if i < n:
        t_click = float(fr["best_effort_timestamp_time"]) + i / 48000
        break
    i -= n
print(f"{t_flash:.6f} {t_click:.6f}")
