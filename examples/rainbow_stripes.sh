#!/bin/sh
# Prompt: "no Python available: write a plain POSIX shell script that animates
# scrolling diagonal rainbow stripes as raw video frames"
#
# awk writes one tall tile of raw pixels into the scratch dir once; every frame is then
# a window of HEIGHT rows cut out of it with dd, one stripe period further down per
# second, so the stripes scroll. Frames go to stdout as raw PIX_FMT (rgb24, bgr24 or
# gray); messages go to stderr.
set -eu

W=${WIDTH:-640}
H=${HEIGHT:-360}
FPS=${FPS:-30}
FRAMES=${FRAMES:-$((FPS * 5))}
PIX_FMT=${PIX_FMT:-rgb24}

case $PIX_FMT in
rgb24 | bgr24) BPP=3 ;;
gray) BPP=1 ;;
*)
	echo "rainbow_stripes.sh: unsupported PIX_FMT '$PIX_FMT' (use rgb24, bgr24 or gray)" >&2
	exit 1
	;;
esac

# Stripe period in pixels; the tile is one period taller than a frame so that every
# scroll offset 0..P-1 has HEIGHT rows below it.
P=$((W / 6))
[ "$P" -ge 12 ] || P=12

if [ -n "${SCRATCH:-}" ] && [ -d "$SCRATCH" ]; then
	DIR=$SCRATCH
else
	DIR=${TMPDIR:-/tmp}
fi
TILE=$(mktemp "$DIR/stripes.XXXXXX")
trap 'rm -f "$TILE"' EXIT

# LC_ALL=C: printf "%c" must emit single bytes, not UTF-8 sequences.
LC_ALL=C awk -v w="$W" -v rows="$((H + P))" -v p="$P" -v fmt="$PIX_FMT" 'BEGIN {
	pi = 3.14159265358979
	bpp = (fmt == "gray") ? 1 : 3
	for (k = 0; k < p; k++) {
		a = 2 * pi * k / p
		r = int(128 + 100 * sin(a))
		g = int(128 + 100 * sin(a + 2.0944))
		b = int(128 + 100 * sin(a + 4.1888))
		if (fmt == "gray")
			pal[k] = sprintf("%c", int(0.299 * r + 0.587 * g + 0.114 * b))
		else if (fmt == "bgr24")
			pal[k] = sprintf("%c%c%c", b, g, r)
		else
			pal[k] = sprintf("%c%c%c", r, g, b)
	}
	# Pixel (x, y) has colour pal[(x + y) % p]: row y is this line shifted by y.
	line = ""
	for (x = 0; x < w + p; x++)
		line = line pal[x % p]
	for (y = 0; y < rows; y++)
		printf "%s", substr(line, (y % p) * bpp + 1, w * bpp)
}' >"$TILE"

ROW=$((W * BPP))
echo "rainbow_stripes.sh: ${W}x${H} $PIX_FMT, $FRAMES frames" >&2
i=0
while [ "$i" -lt "$FRAMES" ]; do
	off=$((i * P / FPS % P))
	# A closed pipe means the reader has all it wants: stop quietly.
	dd if="$TILE" bs="$ROW" skip="$off" count="$H" status=none 2>/dev/null || exit 0
	i=$((i + 1))
done
