#!/bin/sh
# Prompt: "ffmpeg lavfi mandelbrot zoom piped out as raw rgb24"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi \
	-i "mandelbrot=size=${WIDTH}x${HEIGHT}:rate=${FPS}:maxiter=200" \
	-frames:v "$FRAMES" -pix_fmt rgb24 -f rawvideo pipe:1
echo "mandelbrot done" >&2
