#!/bin/sh
# Prompt: "no python: a plain shell script that flashes red, green and blue, one colour per frame"
set -eu
n=0
while [ "$n" -lt "$FRAMES" ]; do
	case $((n % 3)) in
	0) px='\377\000\000' ;;
	1) px='\000\377\000' ;;
	*) px='\000\000\377' ;;
	esac
	printf "$px" > "$SCRATCH/px"
	# one pixel, doubled until it fills a row, then the row repeated HEIGHT times
	i=1
	cp "$SCRATCH/px" "$SCRATCH/row"
	while [ "$i" -lt "$WIDTH" ]; do cat "$SCRATCH/row" "$SCRATCH/row" > "$SCRATCH/r2"; mv "$SCRATCH/r2" "$SCRATCH/row"; i=$((i * 2)); done
	head -c $((WIDTH * 3)) "$SCRATCH/row" > "$SCRATCH/line"
	j=0
	while [ "$j" -lt "$HEIGHT" ]; do cat "$SCRATCH/line"; j=$((j + 1)); done
	n=$((n + 1))
done
echo "wrote $FRAMES frames" >&2
