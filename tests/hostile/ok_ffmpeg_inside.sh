#!/bin/sh
# Positive: the ffmpeg CLI works inside the sandbox (lavfi test source to raw rgb24 on
# stdout), with no network and no devices.
# Expected: the job succeeds with every frame.
set -eu
exec ffmpeg -nostdin -hide_banner -loglevel error -f lavfi \
	-i "testsrc=size=${WIDTH:-64}x${HEIGHT:-48}:rate=${FPS:-10}" \
	-frames:v "${FRAMES:-5}" -f rawvideo -pix_fmt rgb24 -
