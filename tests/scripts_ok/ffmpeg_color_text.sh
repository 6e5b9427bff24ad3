#!/bin/sh
# Prompt: "ffmpeg: a black title card with 'THE END' in white, drawtext"
set -eu
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
ffmpeg -nostdin -hide_banner -loglevel error \
	-f lavfi -i "color=c=black:size=${WIDTH}x${HEIGHT}:rate=${FPS}" \
	-vf "drawtext=fontfile=$FONT:text='THE END':fontcolor=white:fontsize=h/6:x=(w-tw)/2:y=(h-th)/2" \
	-frames:v "$FRAMES" -f rawvideo -pix_fmt rgb24 -
