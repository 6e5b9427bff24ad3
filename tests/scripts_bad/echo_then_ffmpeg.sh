#!/bin/sh
# Prompt: "ffmpeg test pattern" - the model echoes a status line to stdout first.
# expect: fails: the stream starts with the text "Generating test pattern..."
set -eu
echo "Generating test pattern..."
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc=size=${WIDTH}x${HEIGHT}:rate=${FPS}" \
	-frames:v "$FRAMES" -f rawvideo -pix_fmt rgb24 -
