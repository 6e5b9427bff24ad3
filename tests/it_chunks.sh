#!/usr/bin/env bash
# Integration test of chunked jobs (`submit --chunks N`, docs/queue.md "Chunked jobs")
# against a real redis-server on a private port and real `reelbox worker`s with the real
# sandbox and encoder:
#
#  a. A deterministic script stamps each frame's index in its pixels and honours
#     FRAME_START/FRAME_COUNT. Rendered whole and in 4 chunks (mp4 at 30000/1001, webm,
#     mov):
#     the chunked video's stamps read back 0..N-1 in order (none dropped or doubled at a
#     border), its timestamps advance by one frame each, and its PSNR against the
#     script's own frames is within 0.5 dB of the whole render's; the result says chunks,
#     chunk_workers and join_ms; the chunk dir is gone afterwards.
#  b. A script that ignores FRAME_START: the result says the fallback (chunked false,
#     chunk_fallback) and the video is still right.
#  c. A chunk whose script fails: the parent fails, saying which chunk.
#  d. Cancel of the parent cancels its children.
#  e. A worker SIGKILLed during a chunk: the lease moves the chunk, the job succeeds.
#  f. A producer's document with a "chunk" (a forged parent) or a "join" is refused and
#     writes nothing into another job's chunk dir.
#  g. Bad uses exit 2 with a sentence: gif, run --chunks, more chunks than frames.
#  h. A chunked job with --audio: its AAC track is byte for byte the whole render's.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_IT_KEEP=1 keeps the temp dir.
# Needs redis-server, redis-cli, python3, ffmpeg and ffprobe. Prints one PASS/FAIL line
# per check and ends with "N passed, M failed"; exits 1 when a check failed.
set -uo pipefail

BIN=${REELBOX_BIN:-build/reelbox}
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

for tool in redis-server redis-cli python3 ffmpeg ffprobe timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
[ -x "$BIN" ] || {
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
}

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itc.XXXXXX")
MARK=itc$$
OUT=$T/out
mkdir -p "$T/redis" "$T/state" "$T/scripts" "$OUT"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$T/state
export REELBOX_CONFIG=$T/config.json
printf '{"result_ttl": 600}\n' >"$REELBOX_CONFIG"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")
REDIS_PID=
W1=
W2=

cleanup() {
	local p
	exec 2>/dev/null
	for p in $W1 $W2 $REDIS_PID; do kill -9 "$p" 2>/dev/null; done
	for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_chunks: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
	[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done

status_json() { "$BIN" status --json "$1" 2>/dev/null; }
sfield() { # sfield ID PYTHON-EXPR over d (the status) and r (its result)
	status_json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d.get("result") or {}
if isinstance(r, str):
    r = json.loads(r)
print(eval(sys.argv[1]))' "$2" 2>/dev/null
}
wait_state() { # wait_state ID SECONDS STATE (gives up at another final state)
	local i st
	for i in $(seq $(($2 * 10))); do
		st=$(sfield "$1" 'd.get("state")')
		[ "$st" = "$3" ] && return 0
		case $st in succeeded | failed | dead | cancelled) return 1 ;; esac
		sleep 0.1
	done
	return 1
}

S=$T/scripts
# The stamp: the top half is 16 bars, bar b white when bit b of the frame's index is set;
# the bottom half a gradient that moves with the index (something to compress).
cat >"$S/${MARK}_stamp.py" <<'EOF'
import os, sys
W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
start = int(os.environ.get("FRAME_START", "0"))
count = int(os.environ.get("FRAME_COUNT", str(N)))
if os.environ.get("IGNORE_RANGE") or "ignore" in sys.argv[0]:
    start, count = 0, N
if "failing" in sys.argv[0] and start > 0:
    sys.stderr.write("this chunk fails on purpose\n")
    sys.exit(3)
out = sys.stdout.buffer
for n in range(start, start + count):
    top = bytearray()
    for x in range(W):
        v = 255 if (n >> (x * 16 // W)) & 1 else 0
        top += bytes((v, v, v))
    bot = bytearray()
    for x in range(W):
        v = (x * 2 + n * 3) % 256
        bot += bytes((v, (v * 7) % 256, 255 - v))
    out.write(bytes(top) * (H // 2) + bytes(bot) * (H - H // 2))
    if "slow" in sys.argv[0]:
        import time
        time.sleep(0.1)
EOF
for v in ignore failing slow; do cp "$S/${MARK}_stamp.py" "$S/${MARK}_${v}.py"; done

# stamps VIDEO W H: the stamped index of every decoded frame, one per line.
stamps() {
	ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - 2>/dev/null | python3 -c '
import sys
W, H = int(sys.argv[1]), int(sys.argv[2])
data = sys.stdin.buffer.read()
fs = W * H * 3
row = H // 4
for f in range(len(data) // fs):
    base = f * fs + row * W * 3
    n = 0
    for b in range(16):
        x = b * W // 16 + W // 32
        if data[base + x * 3] > 127:
            n |= 1 << b
    print(n)' "$2" "$3"
}
# pts_even VIDEO: every frame's timestamp one step after the last (equal steps, give or
# take the container's rounding: WebM counts milliseconds, 33 or 34 at 30 fps).
pts_even() {
	ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp \
		-of csv=p=0 "$1" | python3 -c '
import sys
t = [int(l.split(",")[0]) for l in sys.stdin if l.strip() and l.strip() != "N/A"]
d = [b - a for a, b in zip(t, t[1:])]
sys.exit(0 if t and min(d) > 0 and max(d) - min(d) <= 1 else 1)'
}
# psnr VIDEO REF.raw W H RATE: average PSNR (dB) of the video against the raw frames.
psnr() {
	ffmpeg -v info -f rawvideo -pix_fmt rgb24 -s "$3x$4" -r "$5" -i "$2" -i "$1" \
		-lavfi "[1:v]setpts=N/(30*TB)[a];[0:v]setpts=N/(30*TB)[b];[a][b]psnr" -f null - 2>&1 | sed -n 's/.*PSNR.* average:\([0-9.inf]*\).*/\1/p' | tail -1
}
# reference SCRIPT W H FRAMES: the script's own frames, run here as the whole job would.
reference() {
	env -i PATH=/usr/bin:/bin WIDTH=$2 HEIGHT=$3 FRAMES=$4 python3 "$1"
}

"$BIN" worker --concurrency 2 --output-dir "$OUT" --lease 3 2>"$T/w1.log" &
W1=$!
"$BIN" worker --concurrency 2 --output-dir "$OUT" --lease 3 2>"$T/w2.log" &
W2=$!

# ==== a. whole vs 4 chunks ==============================================================
W=128
H=96
N=240 # 60 frames a chunk: at 15 x264 chunks measured 0.8 dB below whole, at 30 0.53 dB
for fmt in mp4 webm mov; do
	rate=30
	[ $fmt = mp4 ] && rate=30000/1001
	echo "== a. $fmt at $rate"
	"$BIN" submit --id whole_$fmt --format $fmt --size ${W}x$H --fps $rate --frames $N \
		"$S/${MARK}_stamp.py" >/dev/null
	"$BIN" submit --id chunk_$fmt --format $fmt --size ${W}x$H --fps $rate --frames $N \
		--chunks 4 "$S/${MARK}_stamp.py" >/dev/null
	wait_state whole_$fmt 120 succeeded
	check "$fmt: the whole render succeeded" [ "$(sfield whole_$fmt 'd["state"]')" = succeeded ]
	wait_state chunk_$fmt 180 succeeded
	check "$fmt: the chunked render succeeded ($(sfield chunk_$fmt 'd.get("error","")'))" \
		[ "$(sfield chunk_$fmt 'd["state"]')" = succeeded ]
	check "$fmt: the result says 4 chunks, their workers and the join's time" \
		[ "$(sfield chunk_$fmt '"%s %s %s" % (r.get("chunks"), len(r.get("chunk_workers", [])), "join_ms" in r)')" = "4 4 True" ]
	v=$OUT/chunk_$fmt.$fmt
	want=$(seq 0 $((N - 1)) | tr '\n' ' ')
	got=$(stamps "$v" $W $H | tr '\n' ' ')
	check "$fmt: the chunked video's stamps are 0..$((N - 1)) in order" [ "$got" = "$want" ]
	got=$(stamps "$OUT/whole_$fmt.$fmt" $W $H | tr '\n' ' ')
	check "$fmt: the whole video's stamps are 0..$((N - 1)) in order" [ "$got" = "$want" ]
	check "$fmt: the chunked video's timestamps advance one frame at a time" pts_even "$v"
	reference "$S/${MARK}_stamp.py" $W $H $N >"$T/ref.raw"
	pw=$(psnr "$OUT/whole_$fmt.$fmt" "$T/ref.raw" $W $H $rate)
	pc=$(psnr "$v" "$T/ref.raw" $W $H $rate)
	# The floor shows the frames were compared in step (one frame off reads about 11 dB).
	# VP9's WebM reads back 16 dB here whole or chunked: compared after its own colour
	# conversion, the comparison that counts is chunked against whole.
	floor=30
	[ $fmt = webm ] && floor=13
	check "$fmt: PSNR chunked $pc dB within 0.5 dB of whole $pw dB (whole above $floor dB)" \
		python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 0.5 and b > float(sys.argv[3]) else 1)" "${pc:-0}" "${pw:-0}" "$floor"
	check "$fmt: the chunk dir is gone once joined" [ ! -e "$OUT/.chunks/chunk_$fmt" ]
	check "$fmt: the joined video has its poster" [ -s "$OUT/chunk_$fmt.jpg" ]
done

# ==== b. a script that ignores its range ================================================
echo "== b. fallback"
"$BIN" submit --id fb --size ${W}x$H --frames 40 --chunks 4 "$S/${MARK}_ignore.py" >/dev/null
wait_state fb 180 succeeded
check "fallback: the job succeeded ($(sfield fb 'd.get("error","")'))" [ "$(sfield fb 'd["state"]')" = succeeded ]
check "fallback: the result says chunked false and why" \
	[ "$(sfield fb '"%s %s" % (r.get("chunked"), "FRAME_START" in r.get("chunk_fallback", ""))')" = "False True" ]
check "fallback: the video's stamps are 0..39" \
	[ "$(stamps "$OUT/fb.mp4" $W $H | tr '\n' ' ')" = "$(seq 0 39 | tr '\n' ' ')" ]

# ==== c. a failing chunk ================================================================
echo "== c. failure"
"$BIN" submit --id bad --size ${W}x$H --frames 20 --chunks 2 "$S/${MARK}_failing.py" >/dev/null
wait_state bad 120 failed
err=$(sfield bad 'd.get("error","")')
check "a failing chunk fails the parent saying which: $err" grep -q "chunk 1 (bad-c1)" <<<"$err"

# ==== d. cancel =========================================================================
echo "== d. cancel"
"$BIN" submit --id cx --size ${W}x$H --frames 400 --chunks 3 "$S/${MARK}_slow.py" >/dev/null
for _ in $(seq 100); do [ "$(sfield cx-c0 'd.get("state")')" = running ] && break; sleep 0.1; done
"$BIN" cancel cx >/dev/null 2>&1
sleep 0.5
check "cancel of the parent cancels every child" \
	[ "$(for k in 0 1 2; do sfield cx-c$k 'd.get("state")'; done | sort -u | tr '\n' ' ')" = "cancelled " ]

# ==== e. a worker killed during a chunk =================================================
echo "== e. SIGKILL"
kill -TERM "$W2"
wait "$W2" 2>/dev/null
W2=
"$BIN" submit --id kx --size ${W}x$H --frames 60 --chunks 2 "$S/${MARK}_slow.py" >/dev/null
for _ in $(seq 200); do [ "$(sfield kx-c0 'd.get("state")')" = running ] && break; sleep 0.1; done
kill -9 "$W1"
wait "$W1" 2>/dev/null
W1=
for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
"$BIN" worker --concurrency 2 --output-dir "$OUT" --lease 3 2>"$T/w3.log" &
W1=$!
wait_state kx 180 succeeded
check "after a SIGKILL the lease moved the chunk and the job succeeded ($(sfield kx 'd.get("error","")'))" \
	[ "$(sfield kx 'd["state"]')" = succeeded ]
check "and its stamps are 0..59" \
	[ "$(stamps "$OUT/kx.mp4" $W $H | tr '\n' ' ')" = "$(seq 0 59 | tr '\n' ' ')" ]

# ==== f. forged chunk / join ============================================================
echo "== f. forged"
script=$(python3 -c 'import json; print(json.dumps(open("'"$S/${MARK}_stamp.py"'").read()))')
"${RCLI[@]}" XADD reelbox:jobs '*' id forged job \
	"{\"id\":\"forged\",\"script\":$script,\"script_name\":\"${MARK}_f.py\",\"size\":\"64x48\",\"frames\":4,\"chunk\":{\"parent\":\"victim\",\"index\":0,\"start\":0,\"count\":4}}" >/dev/null
"${RCLI[@]}" XADD reelbox:jobs '*' id victim-c0 job \
	"{\"id\":\"victim-c0\",\"script\":$script,\"script_name\":\"${MARK}_f.py\",\"size\":\"64x48\",\"frames\":4,\"chunk\":{\"parent\":\"victim\",\"index\":0,\"start\":0,\"count\":4}}" >/dev/null
"${RCLI[@]}" XADD reelbox:jobs '*' id fj job \
	"{\"id\":\"fj\",\"script\":$script,\"script_name\":\"${MARK}_f.py\",\"frames\":4,\"chunks\":2,\"join\":true}" >/dev/null
wait_state forged 60 dead
wait_state victim-c0 60 dead
wait_state fj 60 dead
check "a producer's \"chunk\" is refused: $(sfield forged 'd.get("error","")')" \
	grep -q "never by a producer" <<<"$(sfield forged 'd.get("error","")')"
check "a producer's \"chunk\" under a child's id is refused too" \
	grep -q "never by a producer" <<<"$(sfield victim-c0 'd.get("error","")')"
check "a producer's \"join\" is refused: $(sfield fj 'd.get("error","")')" \
	grep -q "never by a producer" <<<"$(sfield fj 'd.get("error","")')"
check "nothing was written for the forged parent" [ ! -e "$OUT/.chunks/victim" ]

# ==== h. audio ==========================================================================
echo "== h. audio"
cat >"$S/${MARK}_audio.py" <<'EOF'
import math, os, struct, sys
W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
fps = float(os.environ["FPS"])
start = int(os.environ.get("FRAME_START", "0"))
count = int(os.environ.get("FRAME_COUNT", str(N)))
# The whole job's audio in every chunk: a 440 Hz tone for the video's length.
sr = 48000
n = int(N / fps * sr)
data = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / sr))) for i in range(n))
with open("audio.wav", "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16) + b"data" +
            struct.pack("<I", len(data)) + data)
for k in range(start, start + count):
    sys.stdout.buffer.write(bytes([k % 256, 0, 0]) * (W * H))
EOF
"$BIN" submit --id aw --size 64x48 --frames 90 --audio audio.wav "$S/${MARK}_audio.py" >/dev/null
"$BIN" submit --id ac --size 64x48 --frames 90 --chunks 3 --audio audio.wav "$S/${MARK}_audio.py" >/dev/null
wait_state aw 120 succeeded
wait_state ac 120 succeeded
check "a chunked job with audio succeeded ($(sfield ac 'd.get("error","")'))" [ "$(sfield ac 'd["state"]')" = succeeded ]
track() { ffmpeg -v error -i "$1" -map 0:a -c copy -f data - 2>/dev/null | sha256sum | cut -c1-64; }
same_track() {
	[ "$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name -of csv=p=0 "$1")" = aac ] &&
		[ "$(track "$1")" = "$(track "$2")" ]
}
check "its AAC track is byte for byte the whole render's" same_track "$OUT/ac.mp4" "$OUT/aw.mp4"

# ==== g. bad uses =======================================================================
echo "== g. usage"
out=$("$BIN" submit --chunks 4 --format gif "$S/${MARK}_stamp.py" 2>&1)
check "gif is refused with exit 2: $out" [ $? -eq 2 ]
out=$("$BIN" run --chunks 2 "$S/${MARK}_stamp.py" 2>&1)
rc=$?
check "run --chunks points at submit: $out" [ $rc -eq 2 ]
out=$("$BIN" submit --frames 3 --chunks 4 "$S/${MARK}_stamp.py" 2>&1)
rc=$?
check "more chunks than frames is refused: $out" [ $rc -eq 2 ]

finish
