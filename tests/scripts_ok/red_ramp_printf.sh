#!/bin/sh
# Prompt: "shell only: dark red frames getting brighter, built with printf, cat and head"
set -eu
px=$((WIDTH * HEIGHT))
i=0
while [ "$i" -lt "$FRAMES" ]; do
	oct=$(printf '%03o' $(((i * 20 + 40) % 256)))
	# one red pixel, doubled until it covers the frame, then cut to size
	printf "\\$oct\\000\\000" >"$SCRATCH/acc"
	k=1
	while [ "$k" -lt "$px" ]; do
		cat "$SCRATCH/acc" "$SCRATCH/acc" >"$SCRATCH/t"
		mv "$SCRATCH/t" "$SCRATCH/acc"
		k=$((k * 2))
	done
	head -c $((px * 3)) "$SCRATCH/acc"
	i=$((i + 1))
done
