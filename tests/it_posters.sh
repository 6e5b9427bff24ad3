#!/usr/bin/env bash
# Integration test of posters (render/poster.c) with the real sandbox, the real confined
# encoder, and, for the worker, a real redis-server on a private port:
#
#  a. content-aware pick: a script whose first 12 frames are black and whose later ones
#     hold a gradient gets a poster that is not black (mean luma read back from the JPEG
#     above 60), a JPEG (ffprobe: mjpeg) of the video's size, named out.jpg beside
#     out.mp4; run --json records "poster" (that path), "poster_frame" (a frame past the
#     black ones) and timings.poster_ms.
#  b. --poster-frame 7: a script that stamps each frame's index into its pixels (grey
#     level 20 + 9*i) gets the poster of frame 7 (its grey read back within 2 levels) and
#     poster_frame 7; frame 0 likewise (a chosen black-ish frame is honoured).
#  c. size: a 1920x1080 video's poster is 1280x720 (capped at 1280 wide, aspect kept).
#  d. a failed job leaves neither video nor poster, nor a temporary file of either.
#  e. bad values: --poster-frame -1, 'x', and one at or past --frames are one-line
#     errors with exit 2; submit refuses one past the job's frames likewise.
#  f. the worker: a queued job gets <id>.jpg beside <id>.mp4 in the output dir (the stable
#     names, linked to the claim's <id>.<token>.jpg), status --json's result has "poster"
#     (an existing file in the output dir), `reelbox status` prints it; a failed job
#     leaves no .jpg of its id.
#  g. cost: the encoder's time for the poster of a 1280x720, 150-frame job (printed).
#  h. --still 5 -o f.png: a PNG of the frame's size whose every pixel is frame 5's stamp
#     exactly; the script (1000 frames, 10 ms apart) was stopped early; run --json says
#     6 frames, frame_cap_hit, no poster; no video or poster beside it; a script that
#     fails, or a stream that ends before frame N, is exit 1 with no file; --still -1,
#     'x', a non-.png output, with --frames, or without -o are one-line errors, exit 2.
#  i. --contact-sheet 4x3 on 320x180 frames stamped grey 2*i: s.sheet.jpg is 1280x540 and
#     its 12 cells show frames 0, 10, ... 110 (each cell's grey read back within 3); run
#     --json records it with 12 filled cells; a 720p sheet is capped at 1920 wide; a failed
#     job leaves none; 0x3, 100x100, 4x, 3, 11x1, 4x03, -4x3 are one-line errors, exit 2;
#     a worker's job gets <id>.sheet.jpg, named by its result and by reelbox status.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_IT_KEEP=1 keeps the temp dir. Needs ffprobe, ffmpeg, python3, redis-server and
# redis-cli. Prints one PASS/FAIL line per check and ends with "N passed, M failed";
# exits 1 when a check failed. Bounded: about 15 s, 90 s at most.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-.}
BIN=${REELBOX_BIN:-build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

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
check() { # check DESCRIPTION COMMAND...: PASS when the command succeeds
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

for tool in ffprobe ffmpeg python3 redis-server redis-cli timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itp.XXXXXX")
MARK=itp$$
S=$T/scripts
OUT=$T/out
mkdir -p "$S" "$T/redis" "$T/state" "$T/run" "$OUT"
export REELBOX_STATE_DIR=$T/state
REDIS_PID=
WORKER_PID=
cleanup() {
	local p
	exec 2>/dev/null
	[ -n "$WORKER_PID" ] && kill -9 "$WORKER_PID" 2>/dev/null
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null
	for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_posters: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# jget JSON PYTHON-EXPR: d is the parsed document
jget() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# luma FILE: the mean grey level of an image, decoded by ffmpeg
luma() {
	ffmpeg -v error -i "$1" -f rawvideo -pix_fmt gray - 2>/dev/null |
		python3 -c 'import sys; d = sys.stdin.buffer.read(); print(round(sum(d) / len(d), 1) if d else -1)'
}
# size FILE: WxH of an image or video's first stream, and its codec
probe() { ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$1" 2>/dev/null; }
near() { python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) <= float(sys.argv[3]) else 1)' "$@"; }

# Black for the first 12 frames, then a horizontal gradient (every frame the same).
cat >"$S/${MARK}_fade.py" <<'EOF'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
black = bytes(w * h * 3)
row = bytes(v for x in range(w) for v in (x * 255 // w,) * 3)
content = row * h
for i in range(n):
    sys.stdout.buffer.write(black if i < 12 else content)
EOF
# Frame i is one grey level, 20 + 9*i: its index, read back from any image of it.
cat >"$S/${MARK}_stamp.py" <<'EOF'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes(((20 + 9 * i) % 256,)) * (w * h * 3))
EOF
# Frames, then a failure.
cat >"$S/${MARK}_fail.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * 3)) /dev/zero | tr '\000' '\200'
echo "boom" >&2
exit 3
EOF

# ==== a. the content-aware pick ========================================================
echo "== a. content-aware pick"
cd "$T/run" || exit 1
js=$("$BIN" run --json --size 160x120 --frames 40 -o "$T/run/fade.mp4" "$S/${MARK}_fade.py" 2>"$T/a.err")
rc=$?
check "the job succeeded (rc $rc: $(tail -1 "$T/a.err"))" [ "$rc" = 0 ]
check "the poster is fade.jpg beside fade.mp4" [ -s "$T/run/fade.jpg" ]
check "it is a JPEG of the video's size ($(probe "$T/run/fade.jpg"))" [ "$(probe "$T/run/fade.jpg")" = "mjpeg,160,120" ]
l=$(luma "$T/run/fade.jpg")
check "it is not black: mean luma $l > 60" near "$l" 127 67
check "run --json records the poster's path" [ "$(jget "$js" 'd["poster"]')" = "$T/run/fade.jpg" ]
check "and a frame past the black ones ($(jget "$js" 'd["poster_frame"]'))" [ "$(jget "$js" 'd["poster_frame"] >= 12')" = True ]
check "and the encoder's time for it (timings.poster_ms $(jget "$js" 'd["timings"]["poster_ms"]'))" \
	[ "$(jget "$js" 'isinstance(d["timings"]["poster_ms"], int)')" = True ]

# ==== b. a chosen frame ================================================================
echo "== b. --poster-frame"
js=$("$BIN" run --json --size 160x120 --frames 20 --poster-frame 7 -o "$T/run/stamp.mp4" "$S/${MARK}_stamp.py" 2>/dev/null)
l=$(luma "$T/run/stamp.jpg")
check "--poster-frame 7 shows frame 7 (grey $l, stamped 83)" near "$l" 83 2
check "poster_frame is 7" [ "$(jget "$js" 'd["poster_frame"]')" = 7 ]
js=$("$BIN" run --json --size 160x120 --frames 20 --poster-frame 0 -o "$T/run/stamp0.mp4" "$S/${MARK}_stamp.py" 2>/dev/null)
l=$(luma "$T/run/stamp0.jpg")
check "--poster-frame 0 shows frame 0 (grey $l, stamped 20)" near "$l" 20 2
js=$("$BIN" run --json --size 160x120 --frames 20 -o "$T/run/stampa.mp4" "$S/${MARK}_stamp.py" 2>/dev/null)
check "without it, a uniform stream's poster is still made (the least dark frame: $(jget "$js" 'd["poster_frame"]'))" \
	[ -s "$T/run/stampa.jpg" ]

# ==== c. the size cap ==================================================================
echo "== c. size"
"$BIN" run --size 1920x1080 --frames 3 -o "$T/run/big.mp4" "$S/${MARK}_fade.py" 2>/dev/null
check "a 1920x1080 video's poster is 1280x720 ($(probe "$T/run/big.jpg"))" [ "$(probe "$T/run/big.jpg")" = "mjpeg,1280,720" ]

# ==== d. a failed job ==================================================================
echo "== d. failure"
"$BIN" run --size 160x120 --frames 10 -o "$T/run/bad.mp4" "$S/${MARK}_fail.sh" 2>/dev/null
rc=$?
check "the failing job exits 1 (rc $rc)" [ "$rc" = 1 ]
check "it leaves no video and no poster" eval '[ ! -e "$T/run/bad.mp4" ] && [ ! -e "$T/run/bad.jpg" ]'
tmps=$(find "$T/run" -name '*tmp*' | wc -l)
check "nor a temporary file ($tmps)" [ "$tmps" = 0 ]

# ==== e. bad values ====================================================================
echo "== e. bad values"
for v in -1 x 20 99; do
	err=$("$BIN" run --size 160x120 --frames 20 --poster-frame "$v" -o "$T/run/e.mp4" "$S/${MARK}_stamp.py" 2>&1 >/dev/null)
	rc=$?
	check "--poster-frame $v: exit 2 with one line ($rc: $err)" eval '[ "$rc" = 2 ] && [ "$(wc -l <<<"$err")" = 1 ] && [ ! -e "$T/run/e.mp4" ]'
done

# ==== f. the worker ====================================================================
echo "== f. worker"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
	[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
err=$("$BIN" submit --frames 5 --poster-frame 5 "$S/${MARK}_stamp.py" 2>&1 >/dev/null)
rc=$?
check "submit refuses a poster_frame past the frames (rc $rc: $err)" eval '[ "$rc" = 2 ] && grep -q "poster_frame 5 is past" <<<"$err"'
"$BIN" worker --concurrency 2 --output-dir "$OUT" 2>"$T/worker.log" &
WORKER_PID=$!
"$BIN" submit --id p_ok --size 160x120 --frames 20 --poster-frame 7 "$S/${MARK}_stamp.py" >/dev/null
"$BIN" submit --id p_bad --size 160x120 --frames 10 "$S/${MARK}_fail.sh" >/dev/null
state() { "$BIN" status --json "$1" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("state", ""))' 2>/dev/null; }
for _ in $(seq 300); do
	a=$(state p_ok)
	b=$(state p_bad)
	[ "$a" = succeeded ] && [ "$b" = failed ] && break
	sleep 0.1
done
check "the worker's jobs ended (p_ok $a, p_bad $b)" eval '[ "$a" = succeeded ] && [ "$b" = failed ]'
check "p_ok.jpg is beside p_ok.mp4 in the output dir" eval '[ -s "$OUT/p_ok.jpg" ] && [ -s "$OUT/p_ok.mp4" ]'
check "it is the stable name of the claim's p_ok.<token>.jpg" bash -c "readlink '$OUT/p_ok.jpg' | grep -Eq '^p_ok\.[0-9]+-[0-9a-f]+\.jpg$'"
l=$(luma "$OUT/p_ok.jpg")
check "and shows frame 7 (grey $l, stamped 83)" near "$l" 83 2
st=$("$BIN" status --json p_ok)
p=$(jget "$st" 'd["result"]["poster"]')
check "status --json's result has the poster ($p), a file in the output dir" bash -c "[ -s '$p' ] && [ \"\$(dirname '$p')\" = '$OUT' ]"
txt=$("$BIN" status p_ok 2>&1)
check "reelbox status prints it" grep -q "poster.*p_ok\..*\.jpg" <<<"$txt"
bad=$(find "$OUT" -name 'p_bad*.jpg' | wc -l)
check "the failed job left no poster ($bad)" [ "$bad" = 0 ]

# ==== h. --still =======================================================================
echo "== h. --still"
# 1000 frames, 10 ms apart, each stamped with its index; a line on stderr for each.
cat >"$S/${MARK}_slow.py" <<'EOF'
import os, sys, time
w, h = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
for i in range(1000):
    sys.stdout.buffer.write(bytes(((20 + 9 * i) % 256,)) * (w * h * 3))
    sys.stdout.buffer.flush()
    print("wrote", i, file=sys.stderr, flush=True)
    time.sleep(0.01)
EOF
t0=$(date +%s%N)
js=$("$BIN" run --json --still 5 --size 64x48 -o "$T/run/f.png" "$S/${MARK}_slow.py" 2>/dev/null)
rc=$?
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
check "--still 5 succeeds (rc $rc)" [ "$rc" = 0 ]
check "f.png is a 64x48 PNG ($(probe "$T/run/f.png"))" [ "$(probe "$T/run/f.png")" = "png,64,48" ]
px=$(ffmpeg -v error -i "$T/run/f.png" -f rawvideo -pix_fmt rgb24 - 2>/dev/null | python3 -c 'import sys; print(sorted(set(sys.stdin.buffer.read())))')
check "every pixel holds frame 5's stamp exactly ($px, stamped 65)" [ "$px" = "[65]" ]
last=$(jget "$js" '[l for l in d["log"].splitlines() if l.startswith("wrote")][-1].split()[1]')
check "the script was stopped early: its last frame was $last of 1000, in $ms ms" \
	eval '[ "${last:-1000}" -lt 999 ] && [ "$ms" -lt 6000 ]'
check "run --json: frames 6, frame_cap_hit, output f.png, no poster" \
	[ "$(jget "$js" 'd["frames"] == 6 and d["frame_cap_hit"] and d["output"].endswith("/f.png") and "poster" not in d')" = True ]
check "no video and no poster beside it" eval '[ ! -e "$T/run/f.jpg" ] && [ ! -e "$T/run/f.mp4" ]'
err=$("$BIN" run --still 50 --size 64x48 -o "$T/run/g.png" "$S/${MARK}_fail.sh" 2>&1 >/dev/null)
rc=$?
check "a script that fails before frame 50: exit 1, no file ($rc: $(tail -1 <<<"$err"))" \
	eval '[ "$rc" = 1 ] && [ ! -e "$T/run/g.png" ]'
printf '#!/bin/sh\nhead -c $((WIDTH * HEIGHT * 3 * 3)) /dev/zero\n' >"$S/${MARK}_three.sh"
err=$("$BIN" run --still 5 --size 64x48 -o "$T/run/g.png" "$S/${MARK}_three.sh" 2>&1 >/dev/null)
rc=$?
check "a stream that ends at frame 2: exit 1 with the sentence, no file ($rc: $(tail -1 <<<"$err"))" \
	eval '[ "$rc" = 1 ] && grep -q "ended before frame 5" <<<"$err" && [ ! -e "$T/run/g.png" ]'
for bad in "--still -1 -o $T/run/e.png" "--still x -o $T/run/e.png" "--still 5 -o $T/run/e.mp4" \
	"--still 5 --frames 10 -o $T/run/e.png" "--still 5"; do
	# shellcheck disable=SC2086 # the options are words
	err=$("$BIN" run $bad --size 64x48 "$S/${MARK}_stamp.py" 2>&1 >/dev/null)
	rc=$?
	check "$bad: exit 2 with one line ($rc: $err)" eval '[ "$rc" = 2 ] && [ "$(wc -l <<<"$err")" = 1 ]'
done

# ==== i. --contact-sheet ===============================================================
echo "== i. --contact-sheet"
# Frame i is grey 2*i.
cat >"$S/${MARK}_idx.py" <<'EOF'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes(((2 * i) % 256,)) * (w * h * 3))
EOF
js=$("$BIN" run --json --size 320x180 --frames 120 --contact-sheet 4x3 -o "$T/run/s.mp4" "$S/${MARK}_idx.py" 2>/dev/null)
check "the sheet is s.sheet.jpg beside s.mp4, a 1280x540 JPEG (4x3 cells of 320x180: $(probe "$T/run/s.sheet.jpg"))" \
	[ "$(probe "$T/run/s.sheet.jpg")" = "mjpeg,1280,540" ]
# the grey at each cell's centre, row by row
cells=$(ffmpeg -v error -i "$T/run/s.sheet.jpg" -f rawvideo -pix_fmt gray - 2>/dev/null | python3 -c '
import sys
d = sys.stdin.buffer.read()
print(" ".join(str(d[(r * 180 + 90) * 1280 + c * 320 + 160]) for r in range(3) for c in range(4)))')
want="0 20 40 60 80 100 120 140 160 180 200 220"
check "its 12 cells are frames 0, 10, ... 110, evenly spaced (grey $cells; want $want within 3)" \
	python3 -c 'import sys; a, b = sys.argv[1].split(), sys.argv[2].split(); sys.exit(0 if len(a) == 12 and all(abs(int(x) - int(y)) <= 3 for x, y in zip(a, b)) else 1)' "$cells" "$want"
check "run --json records it and its 12 filled cells" \
	[ "$(jget "$js" 'd["contact_sheet"].endswith("/s.sheet.jpg") and d["contact_sheet_cells"] == 12')" = True ]
"$BIN" run --size 1280x720 --frames 12 --contact-sheet 4x3 -o "$T/run/w.mp4" "$S/${MARK}_idx.py" 2>/dev/null
check "a 720p sheet of 4 columns is capped at 1920 wide ($(probe "$T/run/w.sheet.jpg"))" [ "$(probe "$T/run/w.sheet.jpg")" = "mjpeg,1920,810" ]
"$BIN" run --size 160x120 --frames 10 --contact-sheet 2x2 -o "$T/run/bs.mp4" "$S/${MARK}_fail.sh" 2>/dev/null
check "a failed job leaves no sheet" [ ! -e "$T/run/bs.sheet.jpg" ]
for v in 0x3 100x100 4x 3 11x1 4x03 -4x3; do
	err=$("$BIN" run --size 160x120 --frames 10 --contact-sheet "$v" -o "$T/run/e.mp4" "$S/${MARK}_idx.py" 2>&1 >/dev/null)
	rc=$?
	check "--contact-sheet $v: exit 2 with one line ($rc: $err)" eval '[ "$rc" = 2 ] && [ "$(wc -l <<<"$err")" = 1 ]'
done
"$BIN" submit --id p_sheet --size 160x120 --frames 8 --contact-sheet 2x2 "$S/${MARK}_idx.py" >/dev/null
for _ in $(seq 200); do
	[ "$(state p_sheet)" = succeeded ] && break
	sleep 0.1
done
check "a worker's job with contact_sheet 2x2 gets p_sheet.sheet.jpg beside p_sheet.mp4 ($(probe "$OUT/p_sheet.sheet.jpg"))" \
	[ "$(probe "$OUT/p_sheet.sheet.jpg")" = "mjpeg,320,240" ]
check "its result and reelbox status name it" \
	eval '[ -s "$(jget "$("$BIN" status --json p_sheet)" "d[\"result\"][\"contact_sheet\"]")" ] && "$BIN" status p_sheet | grep -q "contact sheet.*sheet.jpg"'

# ==== g. cost ==========================================================================
echo "== g. cost"
js=$("$BIN" run --json --size 1280x720 --frames 150 --preset ultrafast -o "$T/run/cost.mp4" "$S/${MARK}_fade.py" 2>/dev/null)
ms=$(jget "$js" 'd["timings"]["poster_ms"]')
enc=$(jget "$js" 'd["timings"]["encode_ms"]')
echo "cost: poster $ms ms of the encoder's $enc ms (1280x720, 150 frames, ultrafast)"
check "the poster of a 720p 150-frame job costs under 250 ms ($ms ms)" [ "${ms:-9999}" -lt 250 ]

finish
