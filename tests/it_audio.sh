#!/usr/bin/env bash
# Integration test of audio tracks (render/audio.c, sandbox/scratch.c, the encoder's AUDIO
# message) with the real sandbox, the real confined encoder, ffprobe and ffmpeg, and a real
# worker on a private redis-server:
#
#  a. a numpy sine sweep written with Python's wave module (mono 48 kHz) into
#     $SCRATCH/audio.wav: MP4 gets an AAC track, WebM an Opus one, 48000 Hz stereo; the
#     decoded track (ffmpeg, priming removed as a player removes it) holds the video's
#     length within one codec frame (AAC 1024, Opus 960 samples: the encoder's last frame
#     is whole; the exact count is what the container's edit list or pre-skip promise, and
#     ffprobe's stream duration is checked too); the result's audio says aac/opus, the
#     exact duration, "exact"; bytes and sha256 are the final file's.
#  b. a WAV 2.5 times the video's length is trimmed, one a quarter of it padded: the
#     track is the video's length either way, "fitted" says so, source_duration_s is the
#     WAV's, and the padded track is silent after the WAV's end and loud before it. A
#     script that writes on past the frame count (stopped at the ceiling) keeps its audio.
#  c. A/V sync: a white frame at frame 37 of black ones and a click at exactly 37/30 s:
#     decoded by ffmpeg, |t_click - t_flash| is at most one frame (1/30 s), MP4 and WebM.
#  d. hostile scripts: audio.wav a symlink to /etc/passwd, a symlink to a real WAV in
#     scratch, a FIFO (no hang: the job ends long before its timeout), a directory, a
#     socket, missing, a corrupt WAV: each job fails with its sentence and leaves no file;
#     names with '..' or a leading '/' and gif/--still with audio are refused at once
#     (exit 2, one line).
#  e. the worker: a corrupt WAV fails its job with the decoder's sentence, the worker
#     lives and renders the next job's audio; submit --audio with .gif exits 2.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_IT_KEEP=1 keeps the temp dir. Needs ffprobe, ffmpeg, python3 (with numpy in the sandbox's),
# redis-server and redis-cli. Prints one PASS/FAIL line per check and ends with
# "N passed, M failed"; exits 1 when a check failed. Bounded: about 30 s, 300 s at most.
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
# numpy is needed inside the sandbox (its python3), not by this harness
"$BIN" exec -- python3 -c 'import numpy' 2>/dev/null || {
	fail "the sandbox's python3 has numpy"
	finish
}
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-ita.XXXXXX")
MARK=ita$$
S=$T/scripts
OUT=$T/out
mkdir -p "$S" "$T/redis" "$T/state" "$T/w" "$OUT"
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
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_audio: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# jget JSON PYTHON-EXPR: d is the parsed document
jget() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
near() { python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) <= float(sys.argv[3]) else 1)' "$@"; }
# astream FILE: codec,sample_rate,channels of the audio track
astream() { ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,channels -of csv=p=0 "$1" 2>/dev/null; }
# samples FILE: the audio track decoded by ffmpeg (mono f32le), as a sample count
samples() { ffmpeg -v error -i "$1" -map 0:a:0 -ac 1 -f f32le - 2>/dev/null | wc -c | awk '{print $1 / 4}'; }
# sdur FILE STREAM: ffprobe's duration of a stream (a:0, v:0), or the container's
sdur() {
	local d
	d=$(ffprobe -v error -select_streams "$2" -show_entries stream=duration -of csv=p=0 "$1" 2>/dev/null)
	case $d in '' | N/A) d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$1" 2>/dev/null) ;; esac
	echo "$d"
}
# rms FILE FROM TO: the decoded track's RMS between two times (seconds)
rms() {
	ffmpeg -v error -i "$1" -map 0:a:0 -ac 1 -f f32le - 2>/dev/null | python3 -c '
import array, math, sys
a = array.array("f", sys.stdin.buffer.read())
lo, hi = int(float(sys.argv[1]) * 48000), int(float(sys.argv[2]) * 48000)
s = a[lo:hi]
print(round(math.sqrt(sum(x * x for x in s) / max(len(s), 1)), 5))' "$2" "$3"
}

for f in sweep click hostile; do cp "$SRC/tests/audio/$f.py" "$S/${MARK}_$f.py"; done
# variants: the environment is the contract's alone, so a variant is a line on top
variant() { # variant NAME 'python line': a copy of BASE with the line first
	{ echo "$3"; cat "$S/${MARK}_$2.py"; } >"$S/${MARK}_$1.py"
}
variant long sweep 'import os; os.environ["AUDIO_SECS"] = "5"'
variant short sweep 'import os; os.environ["AUDIO_SECS"] = "0.5"'
variant endless sweep 'import os; os.environ["AUDIO_SECS"] = "1"; os.environ["FRAMES"] = "100000"'
for how in symlink_out symlink_in fifo dir socket missing corrupt; do
	variant "h_$how" hostile "import os; os.environ['HOW'] = '$how'"
done

# ==== a. sine sweep into MP4 and WebM =====================================================
echo "== a. sweep"
for ext in mp4 webm; do
	case $ext in mp4) codec=aac frame=1024 ;; webm) codec=opus frame=960 ;; esac
	js=$("$BIN" run --size 160x120 --frames 90 --audio audio.wav -o "$T/w/sweep.$ext" \
		--json "$S/${MARK}_sweep.py" 2>"$T/sweep.$ext.err")
	check "$ext: the job succeeded ($(jget "$js" 'd["error"]'))" eval '[ "$(jget "$js" "d[\"status\"]")" = succeeded ]'
	a=$(astream "$T/w/sweep.$ext")
	check "$ext: ffprobe shows an audio stream $a (want $codec,48000,2)" eval '[ "$a" = "$codec,48000,2" ]'
	n=$(samples "$T/w/sweep.$ext")
	check "$ext: the decoded track holds $n samples, the video's 144000 within one frame ($frame)" near "$n" 144000 "$frame"
	d=$(sdur "$T/w/sweep.$ext" a:0)
	v=$(sdur "$T/w/sweep.$ext" v:0)
	check "$ext: ffprobe's audio duration $d is the video's $v within one frame" near "$d" "$v" "$(python3 -c "print($frame / 48000 + 0.008)")"
	check "$ext: the result says audio $(jget "$js" 'd.get("audio")')" eval '[ "$(jget "$js" "(d[\"audio\"][\"codec\"], d[\"audio\"][\"duration_s\"], d[\"audio\"][\"fitted\"], d[\"audio\"][\"name\"])")" = "('"'$codec'"', 3.0, '"'exact'"', '"'audio.wav'"')" ]'
	check "$ext: bytes and sha256 are the final file's" eval '[ "$(jget "$js" "d[\"sha256\"]")" = "$(sha256sum "$T/w/sweep.$ext" | cut -d" " -f1)" ] && [ "$(jget "$js" "d[\"bytes\"]")" = "$(stat -c %s "$T/w/sweep.$ext")" ]'
	check "$ext: nothing but the video and its poster is left" eval '[ "$(ls -A "$T/w" | grep -c "^\.")" = 0 ]'
done
check "mp4: moov comes before mdat (faststart)" eval 'python3 -c "import sys; b = open(sys.argv[1], \"rb\").read(); sys.exit(0 if 0 < b.find(b\"moov\") < b.find(b\"mdat\") else 1)" "$T/w/sweep.mp4"'

# ==== b. longer (trimmed) and shorter (padded) =============================================
echo "== b. trimmed and padded"
js=$("$BIN" run --size 160x120 --frames 60 --audio audio.wav -o "$T/w/long.mp4" --json "$S/${MARK}_long.py" 2>/dev/null)
check "a 5 s WAV on a 2 s video is trimmed ($(jget "$js" 'd.get("audio")'))" eval '[ "$(jget "$js" "d[\"audio\"][\"fitted\"]")" = trimmed ] && near "$(jget "$js" "d[\"audio\"][\"source_duration_s\"]")" 5 0.01 && near "$(jget "$js" "d[\"audio\"][\"duration_s\"]")" 2 0.0001'
n=$(samples "$T/w/long.mp4")
check "its decoded track holds $n samples, 96000 within one AAC frame" near "$n" 96000 1024
js=$("$BIN" run --size 160x120 --frames 60 --audio audio.wav -o "$T/w/short.webm" --json "$S/${MARK}_short.py" 2>/dev/null)
check "a 0.5 s WAV on a 2 s video is padded ($(jget "$js" 'd.get("audio")'))" eval '[ "$(jget "$js" "d[\"audio\"][\"fitted\"]")" = padded ] && near "$(jget "$js" "d[\"audio\"][\"source_duration_s\"]")" 0.5 0.01 && near "$(jget "$js" "d[\"audio\"][\"duration_s\"]")" 2 0.0001'
n=$(samples "$T/w/short.webm")
check "its decoded track holds $n samples, 96000 within one Opus frame" near "$n" 96000 960
loud=$(rms "$T/w/short.webm" 0.05 0.45)
quiet=$(rms "$T/w/short.webm" 0.6 1.9)
check "the sweep is heard before 0.5 s (rms $loud) and silence follows (rms $quiet)" python3 -c "import sys; sys.exit(0 if $loud > 0.2 and $quiet < 0.001 else 1)"

js=$("$BIN" run --size 64x48 --frames 30 --audio audio.wav -o "$T/w/endless.mp4" --json "$S/${MARK}_endless.py" 2>/dev/null)
check "a script stopped at the frame ceiling keeps its audio ($(jget "$js" '(d["status"], d["frame_cap_hit"], d.get("audio"))'))" eval '[ "$(jget "$js" "d[\"status\"], d[\"frame_cap_hit\"], d[\"audio\"][\"codec\"]")" = "('"'succeeded'"', True, '"'aac'"')" ]'

# ==== c. A/V sync ============================================================================
echo "== c. sync"
for ext in mp4 webm; do
	"$BIN" run --size 160x120 --frames 60 --audio audio.wav -o "$T/w/click.$ext" "$S/${MARK}_click.py" 2>/dev/null
	read -r tf tc < <(python3 "$SRC/tests/audio/sync.py" "$T/w/click.$ext" 2>/dev/null)
	check "$ext: the click ($tc s) is within one frame of the flash ($tf s; both 37/30 in the script)" near "${tc:-99}" "${tf:-0}" "$(python3 -c 'print(1 / 30)')"
done

# ==== d. hostile scripts =====================================================================
echo "== d. hostile"
want_symlink_out='it is (or passes through) a symbolic link'
want_symlink_in='it is (or passes through) a symbolic link'
want_fifo='in $SCRATCH it is a FIFO'
want_dir='in $SCRATCH it is a directory'
want_socket='in $SCRATCH it is a socket'
want_missing='the script wrote no such file in $SCRATCH'
want_corrupt='audio.wav is not audio libav can read'
for how in symlink_out symlink_in fifo dir socket missing corrupt; do
	want=want_$how
	js=$(timeout 120 "$BIN" run --size 64x48 --frames 10 --timeout 60 --audio audio.wav \
		-o "$T/w/h_$how.mp4" --json "$S/${MARK}_h_$how.py" 2>/dev/null)
	rc=$?
	e=$(jget "$js" 'd["error"]')
	check "$how: the job fails (rc $rc) with: $e" eval '[ "$rc" = 1 ] && grep -qF "${!want}" <<<"$e"'
	check "$how: and leaves no file" eval '! ls -A "$T/w" | grep -q "h_$how"'
done
for bad in ../audio.wav /etc/passwd a/../b ./a.wav 'a b.wav'; do
	err=$("$BIN" run --size 64x48 --frames 2 --audio "$bad" -o "$T/w/bad.mp4" "$S/${MARK}_sweep.py" 2>&1 >/dev/null)
	rc=$?
	check "--audio '$bad' is refused at once (rc $rc: $err)" eval '[ "$rc" = 2 ] && [ "$(wc -l <<<"$err")" = 1 ] && grep -q "is not allowed" <<<"$err"'
done
err=$("$BIN" run --size 64x48 --frames 2 --audio audio.wav -o "$T/w/x.gif" "$S/${MARK}_sweep.py" 2>&1 >/dev/null)
rc=$?
check "gif with audio is refused (rc $rc: $err)" eval '[ "$rc" = 2 ] && grep -q "gif has no audio track" <<<"$err"'
err=$("$BIN" run --size 64x48 --still 1 --audio audio.wav -o "$T/w/x.png" "$S/${MARK}_sweep.py" 2>&1 >/dev/null)
rc=$?
check "--still with audio is refused (rc $rc: $err)" eval '[ "$rc" = 2 ] && grep -q "which has no sound" <<<"$err"'

# ==== e. the worker ==========================================================================
echo "== e. worker"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
	[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
err=$("$BIN" submit --audio audio.wav -o x.gif "$S/${MARK}_sweep.py" 2>&1 >/dev/null)
rc=$?
check "submit refuses gif with audio (rc $rc: $err)" eval '[ "$rc" = 2 ] && grep -q "gif has no audio track" <<<"$err"'
"$BIN" worker --concurrency 1 --output-dir "$OUT" 2>"$T/worker.log" &
WORKER_PID=$!
"$BIN" submit --id a_bad --size 64x48 --frames 10 --audio audio.wav "$S/${MARK}_h_corrupt.py" >/dev/null
"$BIN" submit --id a_ok --size 160x120 --frames 30 --audio audio.wav -o a_ok.webm "$S/${MARK}_sweep.py" >/dev/null
state() { "$BIN" status --json "$1" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("state", ""))' 2>/dev/null; }
for _ in $(seq 600); do
	a=$(state a_bad)
	b=$(state a_ok)
	[ "$a" = failed ] && [ "$b" = succeeded ] && break
	sleep 0.2
done
check "the corrupt WAV's job failed and the next one succeeded (a_bad $a, a_ok $b)" eval '[ "$a" = failed ] && [ "$b" = succeeded ]'
st=$("$BIN" status --json a_bad)
check "a_bad's error is the decoder's sentence ($(jget "$st" 'd["error"]'))" eval 'grep -q "audio.wav is not audio libav can read" <<<"$(jget "$st" "d[\"error\"]")"'
check "the worker lives" kill -0 "$WORKER_PID"
st=$("$BIN" status --json a_ok)
check "a_ok's result has its audio ($(jget "$st" 'd["result"].get("audio")'))" eval '[ "$(jget "$st" "d[\"result\"][\"audio\"][\"codec\"]")" = opus ]'
txt=$("$BIN" status a_ok 2>&1)
check "reelbox status prints it ($(grep "^audio " <<<"$txt" | head -1))" eval 'grep -Eq "^audio +audio.wav \(opus, 1.000 s, exact; the file was 1.000 s\)" <<<"$txt"'
f=$(ls "$OUT"/a_ok*.webm 2>/dev/null | head -1)
check "its file in the output dir has an Opus track ($(astream "$f"))" eval '[ "$(astream "$f")" = "opus,48000,2" ]'
check "no file of a_bad's in the output dir" eval '! ls "$OUT" | grep -q "^a_bad"'

finish
