#!/bin/sh
# Prompt: "ffmpeg colour bars with alpha" - rawvideo in rgba while the job reads rgb24.
# expect: fails: every 4th byte of the first frame is 255
set -eu
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "smptebars=size=${WIDTH}x${HEIGHT}:rate=${FPS}" \
	-frames:v "$FRAMES" -f rawvideo -pix_fmt rgba -
