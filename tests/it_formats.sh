#!/usr/bin/env bash
# Integration test of the formats of issue 15 through `reelbox run`, the real sandbox
# and the real confined encoder, checked from the outside with ffprobe and ffmpeg:
#   - exact rates: --fps 29.97 and --fps 30000/1001 give r_frame_rate and avg_frame_rate
#     30000/1001, time_base 1/30000 and frame N at pts N*1001; the script sees FPS=29.97
#     (the contract's names only: no FPS_NUM/FPS_DEN) and FRAMES=ceil(fps*5); a 10-frame 23.976 video lasts
#     10*1001/24000 s; 59.94 is 60000/1001; --json has fps 29.97.. and frame_rate;
#   - alpha: an rgba stream into .webm is VP9 with alpha_mode=1 whose pixels decode
#     (libvpx-vp9) to alpha 0 where the stream was transparent and 255 where opaque;
#     into .mov it is ProRes 4444 (yuva444p) with the same alpha; into .mp4 the alpha is
#     dropped and the result's warnings say so;
#   - codecs: --codec hevc (.mp4, tag hvc1) and --codec av1 (.mp4, .webm) give the codec
#     ffprobe names, or are skipped with a sentence when this libavcodec lacks them;
#   - bad values are one-line usage errors, exit 2, no file: --fps 0/1, 1/0, 29.98, 121,
#     --codec nope, av1 in .gif, hevc in .webm, av1 below 64x64;
#   - through a private redis-server and a real worker: submit --fps 30000/1001 of an rgba
#     .mov; the result's frame_rate and the file's rate, codec and alpha.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR, REELBOX_IT_KEEP=1
# keeps the work dir. Prints one PASS/FAIL line per check and ends with
# "N passed, M failed".
set -euo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
TIMEOUT=300

passed=0
failed=0
pass() {
	printf 'PASS %s\n' "$*"
	passed=$((passed + 1))
}
fail() {
	printf 'FAIL %s\n' "$*"
	failed=$((failed + 1))
}
# expect DESCRIPTION ACTUAL EXPECTED
expect() {
	if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

for tool in ffmpeg ffprobe python3 timeout; do
	command -v "$tool" >/dev/null || {
		echo "it_formats: $tool is required (scripts/install-deps.sh installs it)" >&2
		exit 1
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	echo "$passed passed, $failed failed"
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-it.XXXXXX")
if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then
	echo "it_formats: keeping $WORK"
else
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$WORK"

# rgb24: a frame whose red channel counts up; rgba: the left half transparent black, the
# right half opaque red. The environment it saw goes to stderr (the log).
cat >frames.py <<'EOF'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
sys.stderr.write("env FPS=%s FRAMES=%s extra=%s\n" % (
    os.environ["FPS"], n, ",".join(sorted(k for k in os.environ if k.startswith("FPS_")))))
float(os.environ["FPS"])  # what an existing script does with it
for i in range(n):
    if os.environ["PIX_FMT"] == "rgba":
        row = b"\0\0\0\0" * (w // 2) + b"\xff\0\0\xff" * (w - w // 2)
    else:
        row = bytes([(i * 9) % 256, 90, 40]) * w
    sys.stdout.buffer.write(row * h)
EOF

run() { timeout "$TIMEOUT" "$BIN" run "$@"; }
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
probe() { ffprobe -v error -select_streams v:0 -show_entries "$2" -of default=nw=1:nk=1 "$1"; }

# ---- exact rates ---------------------------------------------------------------------
for rate in 29.97 30000/1001; do
	name=r$(echo "$rate" | tr -c '0-9\n' _).mp4
	if run --json --size 64x48 --frames 10 --fps "$rate" frames.py -o "$name" >out.json 2>err.txt; then
		pass "--fps $rate renders"
		expect "--fps $rate: r_frame_rate" "$(probe "$name" stream=r_frame_rate)" 30000/1001
		expect "--fps $rate: avg_frame_rate" "$(probe "$name" stream=avg_frame_rate)" 30000/1001
		expect "--fps $rate: time_base" "$(probe "$name" stream=time_base)" 1/30000
		pts=$(probe "$name" frame=pts | tr '\n' ' ')
		expect "--fps $rate: frame N at pts N*1001" "$pts" "0 1001 2002 3003 4004 5005 6006 7007 8008 9009 "
		expect "--fps $rate: --json frame_rate" "$(json_field out.json "['frame_rate']")" 30000/1001
		expect "--fps $rate: --json fps" "$(json_field out.json "['fps']")" 29.97002997002997
		expect "--fps $rate: the script's environment" \
			"$(grep -o 'env .*' err.txt | head -1)" "env FPS=29.97 FRAMES=10 extra="
	else
		fail "--fps $rate renders: $(tail -1 err.txt)"
	fi
done

# The default frame count is ceil(fps*5): 150 at 30000/1001 (149.85).
if run --size 64x48 --fps 30000/1001 frames.py -o d.mp4 2>err.txt; then
	expect "frames default to ceil(fps*5)" "$(grep -o 'FRAMES=[0-9]*' err.txt | head -1)" FRAMES=150
else
	fail "default frames at 30000/1001: $(tail -1 err.txt)"
fi

if run --size 64x48 --frames 10 --fps 23.976 frames.py -o film.mov 2>err.txt; then
	expect "23.976: r_frame_rate" "$(probe film.mov stream=r_frame_rate)" 24000/1001
	# 10 frames of 1001/24000 s: 0.417083 as ffprobe rounds it
	expect "23.976: 10 frames last 10*1001/24000 s" "$(probe film.mov stream=duration)" \
		"$(python3 -c 'print("%.6f" % (10 * 1001 / 24000))')"
else
	fail "23.976 renders: $(tail -1 err.txt)"
fi
if run --size 64x48 --frames 6 --fps 59.94 frames.py -o fast.mp4 2>err.txt; then
	expect "59.94: r_frame_rate" "$(probe fast.mp4 stream=r_frame_rate)" 60000/1001
else
	fail "59.94 renders: $(tail -1 err.txt)"
fi

# ---- alpha ---------------------------------------------------------------------------
# alpha_at FILE DECODER_ARGS X: the alpha of pixel (X, 24) of the first frame, as rgba
alpha_at() {
	# shellcheck disable=SC2086 # $2 is a list of decoder options, or nothing
	ffmpeg -v error $2 -i "$1" -frames:v 1 -pix_fmt rgba -f rawvideo - |
		python3 -c "import sys; d=sys.stdin.buffer.read(); print(d[(24*64+$3)*4+3])"
}
if run --json --size 64x48 --frames 3 --pix-fmt rgba frames.py -o alpha.webm >out.json 2>err.txt; then
	expect "rgba .webm: codec" "$(probe alpha.webm stream=codec_name)" vp9
	expect "rgba .webm: alpha_mode tag" "$(probe alpha.webm stream_tags=alpha_mode)" 1
	expect "rgba .webm: a transparent pixel decodes to alpha 0" "$(alpha_at alpha.webm '-c:v libvpx-vp9' 2)" 0
	expect "rgba .webm: an opaque pixel decodes to alpha 255" "$(alpha_at alpha.webm '-c:v libvpx-vp9' 61)" 255
	expect "rgba .webm: no warning" "$(json_field out.json "['warnings']")" "[]"
else
	fail "rgba into .webm: $(tail -1 err.txt)"
fi
if run --size 64x48 --frames 3 --pix-fmt rgba frames.py -o alpha.mov 2>err.txt; then
	expect "rgba .mov: codec" "$(probe alpha.mov stream=codec_name)" prores
	expect "rgba .mov: profile" "$(probe alpha.mov stream=profile)" 4444
	case $(probe alpha.mov stream=pix_fmt) in
	yuva444p*) pass "rgba .mov: pix_fmt has alpha ($(probe alpha.mov stream=pix_fmt))" ;;
	*) fail "rgba .mov: pix_fmt $(probe alpha.mov stream=pix_fmt) has no alpha" ;;
	esac
	expect "rgba .mov: a transparent pixel decodes to alpha 0" "$(alpha_at alpha.mov '' 2)" 0
	expect "rgba .mov: an opaque pixel decodes to alpha 255" "$(alpha_at alpha.mov '' 61)" 255
else
	fail "rgba into .mov: $(tail -1 err.txt)"
fi
if run --json --size 64x48 --frames 3 --pix-fmt rgba frames.py -o alpha.mp4 >out.json 2>err.txt; then
	case $(json_field out.json "['warnings']") in
	*"transparency was dropped"*) pass "rgba .mp4: the result warns that transparency was dropped" ;;
	*) fail "rgba .mp4: warnings $(json_field out.json "['warnings']") say nothing of alpha" ;;
	esac
else
	fail "rgba into .mp4: $(tail -1 err.txt)"
fi

# ---- codecs --------------------------------------------------------------------------
# codec_case CODEC FILE WANT_CODEC [WANT_TAG]
codec_case() {
	if run --size 64x64 --frames 6 --fps 30000/1001 --codec "$1" frames.py -o "$2" 2>err.txt; then
		expect "--codec $1 in $2: codec" "$(probe "$2" stream=codec_name)" "$3"
		[ -z "${4:-}" ] || expect "--codec $1 in $2: tag" "$(probe "$2" stream=codec_tag_string)" "$4"
		expect "--codec $1 in $2: frames" "$(ffprobe -v error -count_frames -select_streams v:0 \
			-show_entries stream=nb_read_frames -of csv=p=0 "$2")" 6
	elif grep -q "is not available here" err.txt; then
		pass "--codec $1 skipped: $(tail -1 err.txt)"
	else
		fail "--codec $1 in $2: $(tail -1 err.txt)"
	fi
}
codec_case hevc h.mp4 hevc hvc1
codec_case av1 a.mp4 av1
codec_case av1 a.webm av1

# ---- bad values ----------------------------------------------------------------------
# refused DESCRIPTION WANT_IN_MESSAGE ARGS...: exit 2, one line on stderr, no file
refused() {
	local what=$1 want=$2 rc=0
	shift 2
	rm -f bad.*
	run "$@" frames.py >/dev/null 2>err.txt || rc=$?
	if [ "$rc" = 2 ] && [ "$(wc -l <err.txt)" = 1 ] && grep -q -- "$want" err.txt &&
		! ls bad.* >/dev/null 2>&1; then
		pass "$what: exit 2, one line ($(cat err.txt))"
	else
		fail "$what: exit $rc, stderr: $(cat err.txt)"
	fi
}
refused "--fps 0/1" "must be from 1 to 120" --fps 0/1 -o bad.mp4
refused "--fps 1/0" "denominator must be at least 1" --fps 1/0 -o bad.mp4
refused "--fps 29.98" "is not a rate" --fps 29.98 -o bad.mp4
refused "--fps 121" "must be from 1 to 120" --fps 121 -o bad.mp4
refused "--fps 100000/1003" "denominator must be at most 1001" --fps 100000/1003 -o bad.mp4
refused "--codec nope" "unknown codec 'nope'" --codec nope -o bad.mp4
refused "--codec av1 in .gif" "codec av1 cannot go in .gif" --codec av1 -o bad.gif
refused "--codec hevc in .webm" "codec hevc cannot go in .webm" --codec hevc -o bad.webm
refused "--codec av1 below 64x64" "too small for av1" --codec av1 --size 32x32 -o bad.mp4

# ---- through the queue: the job document carries the rate and the codec --------------
# submit writes "fps": "30000/1001" into the document; a real worker reads it back from
# Redis and renders the same exact rate into .mov with alpha.
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p redis out
	redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" >/dev/null 2>&1 &
	RPID=$!
	for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
	"$BIN" worker --redis "redis://127.0.0.1:$PORT" --concurrency 1 --output-dir "$WORK/out" 2>worker.log &
	WPID=$!
	if timeout 120 "$BIN" submit --redis "redis://127.0.0.1:$PORT" --wait --json --size 64x48 \
		--frames 5 --fps 30000/1001 --pix-fmt rgba -o ntsc.mov frames.py >wait.json 2>err.txt; then
		expect "worker: the result's frame_rate" "$(json_field wait.json "['result']['frame_rate']")" 30000/1001
		expect "worker: .mov r_frame_rate" "$(probe out/ntsc.mov stream=r_frame_rate)" 30000/1001
		expect "worker: .mov codec" "$(probe out/ntsc.mov stream=codec_name)" prores
		expect "worker: a transparent pixel decodes to alpha 0" "$(alpha_at out/ntsc.mov '' 2)" 0
	else
		fail "worker: submit --wait of a 30000/1001 .mov: $(tail -1 err.txt) $(cat wait.json)"
	fi
	rc=0
	"$BIN" submit --redis "redis://127.0.0.1:$PORT" --codec av1 -o bad.gif frames.py >/dev/null 2>err.txt || rc=$?
	expect "worker: submit --codec av1 -o bad.gif exits 2" "$rc" 2
	kill "$WPID" "$RPID" 2>/dev/null || true
	wait "$WPID" "$RPID" 2>/dev/null || true
else
	pass "queue part skipped: no redis-server here (scripts/install-deps.sh installs it)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
