#!/bin/sh
# Prompt: "use ffmpeg's testsrc2 pattern, raw video to stdout"
set -eu
exec ffmpeg -nostdin -hide_banner -loglevel error \
	-f lavfi -i "testsrc2=size=${WIDTH}x${HEIGHT}:rate=${FPS}" \
	-frames:v "$FRAMES" -f rawvideo -pix_fmt "$PIX_FMT" -
