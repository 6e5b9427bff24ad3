#!/bin/sh
# Prompt: "game of life with ffmpeg's life filter, mold colours"
set -e
ffmpeg -nostdin -loglevel error -f lavfi \
	-i "life=size=${WIDTH}x${HEIGHT}:rate=${FPS}:mold=10:ratio=0.2:death_color=#C83232:life_color=#00ff00" \
	-frames:v "${FRAMES}" -f rawvideo -pix_fmt rgb24 -
