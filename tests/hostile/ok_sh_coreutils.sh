#!/bin/sh
# Positive: a plain sh script with coreutils - head, tr, printf, seq, a temp file in
# scratch - makes raw frames.
# Expected: the job succeeds with every frame.
set -eu
W=${WIDTH:-64} H=${HEIGHT:-48} N=${FRAMES:-5}
size=$((W * H * 3))
cd "${SCRATCH:-.}"
for i in $(seq 1 "$N"); do
	head -c "$size" /dev/zero | tr '\000' "\\$(printf '%03o' $((i * 40 % 256)))" > frame.raw
	cat frame.raw
done
rm -f frame.raw
echo "sh wrote $N frames of ${W}x${H}" >&2
