#!/bin/sh
# Prompt: "use ffmpeg to make a broadcast-style test card with a big 'PLEASE STAND BY'
# caption and a frame counter, piped out as raw video"
#
# ffmpeg's lavfi sources run inside the sandbox like any other program: testsrc2
# draws the card, drawtext adds the caption and the frame number (when ffmpeg has
# freetype and the DejaVu font is there), and the frames leave as raw PIX_FMT on
# stdout. ffmpeg reports errors only; they reach stderr when it finishes.
set -eu

W=${WIDTH:-640}
H=${HEIGHT:-360}
FPS=${FPS:-30}
FRAMES=${FRAMES:-$((FPS * 5))}
PIX_FMT=${PIX_FMT:-rgb24}

FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
FILTER=null
if [ -r "$FONT" ] && ffmpeg -hide_banner -filters 2>/dev/null | grep -q ' drawtext '; then
	SIZE=$((H / 10))
	BOX="box=1:boxcolor=black@0.6:boxborderw=$((SIZE / 4))"
	FILTER="drawtext=fontfile=$FONT:text='PLEASE STAND BY':fontsize=$SIZE:fontcolor=white:x=(w-tw)/2:y=h/6:$BOX"
	FILTER="$FILTER,drawtext=fontfile=$FONT:text='frame %{frame_num}':fontsize=$((SIZE * 2 / 3)):fontcolor=yellow:x=(w-tw)/2:y=h-h/5:$BOX"
else
	echo "test_card.sh: no drawtext or font, rendering the bare card" >&2
fi

if [ -n "${SCRATCH:-}" ] && [ -d "$SCRATCH" ]; then
	LOG=$(mktemp "$SCRATCH/ffmpeg.XXXXXX")
else
	LOG=$(mktemp "${TMPDIR:-/tmp}/ffmpeg.XXXXXX")
fi
trap 'rm -f "$LOG"' EXIT

echo "test_card.sh: ${W}x${H}@${FPS} $PIX_FMT, $FRAMES frames" >&2
status=0
ffmpeg -nostdin -hide_banner -loglevel error \
	-f lavfi -i "testsrc2=size=${W}x${H}:rate=${FPS}" \
	-vf "$FILTER" -frames:v "$FRAMES" \
	-f rawvideo -pix_fmt "$PIX_FMT" - 2>"$LOG" || status=$?

# A closed pipe means the reader has every frame it wants: not an error. Anything
# else ffmpeg complained about goes to the log and fails the script.
if [ "$status" -ne 0 ] && grep -q 'Broken pipe' "$LOG"; then
	exit 0
fi
cat "$LOG" >&2
exit "$status"
