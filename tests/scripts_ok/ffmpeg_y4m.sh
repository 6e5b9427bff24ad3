#!/bin/sh
# Prompt: "ffmpeg smptehdbars as a Y4M stream"
set -eu
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi \
	-i "smptehdbars=size=${WIDTH}x${HEIGHT}:rate=${FPS}" \
	-frames:v "$FRAMES" -pix_fmt yuv420p -f yuv4mpegpipe -
