#!/bin/sh
# Prompt: "animated colour gradients from ffmpeg, with a white box drawn in the middle"
set -eu
W=$WIDTH H=$HEIGHT
ffmpeg -nostdin -hide_banner -loglevel error \
	-f lavfi -i "gradients=size=${W}x${H}:rate=${FPS}:speed=0.05" \
	-vf "drawbox=x=iw/3:y=ih/3:w=iw/3:h=ih/3:color=white@0.8:t=fill" \
	-frames:v "$FRAMES" -f rawvideo -pix_fmt rgb24 - 2>/dev/null
