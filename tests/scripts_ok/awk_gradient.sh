#!/bin/sh
# Prompt: "shell + awk: a vertical gradient that brightens over time, raw rgb24"
set -eu
awk -v W="$WIDTH" -v H="$HEIGHT" -v N="$FRAMES" 'BEGIN {
	for (f = 0; f < N; f++)
		for (y = 0; y < H; y++) {
			v = 1 + int(y * 200 / H + f * 5) % 254
			row = sprintf("%c%c%c", v, 255 - v, 128)
			line = ""
			for (x = 0; x < W; x++) line = line row
			printf "%s", line
		}
}' LC_ALL=C
