#!/usr/bin/env bash
# Integration test of what a user sees from the command line (issue 9), with real runs:
#
#  a. run: a failing script's sentence carries its last error line and a targeted hint
#     (a module it cannot import, a font, an input file, a syntax error with the
#     interpreter's version, pip); a limit names how far the job got and the flag that
#     raises it; a missing output dir is named; --progress writes key=value blocks; the
#     terminal line has an ETA; GIF takes odd sizes, a huge size is "too large";
#     `reelbox runtimes` lists what scripts can import; as non-root run renders and says
#     which limits hold (or, without user namespaces, what it needs); submit --help lists
#     the job options; --tier's rules (unknown, not enabled, not the required tier) are
#     one-line usage errors, and a gvisor run renders or says the tier cannot start.
#  b. submit against a real redis-server and worker: --json prints exactly one JSON
#     document; without it the id is the last line; -o NAME.EXT names the video (a path
#     is refused); a taken id says what holds it and when it is free; --wait on a failure
#     shows the error and the log's last lines; --wait --progress FILE; `status` reads
#     in a fixed order; with no worker --wait prints the id at once, says it is waiting,
#     and Ctrl-C leaves the job queued and says how to cancel it; a port that is not
#     Redis is named as such; producer.py's defaults are the CLI's.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default: the
# repository holding this file), REELBOX_IT_KEEP=1 keeps the temp dir. Needs
# redis-server, ffprobe, script (util-linux) and /usr/bin/python3 with redis-py. Prints
# one PASS/FAIL line per check and ends with "N passed, M failed". About 30 s.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PY=/usr/bin/python3

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
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
# has DESCRIPTION FILE TEXT: PASS when FILE holds TEXT (fixed string).
has() {
	if grep -qF -- "$3" "$2"; then pass "$1"; else
		fail "$1: '$3' not in $(head -c 600 "$2")"
	fi
}
hasnt() {
	if grep -qF -- "$3" "$2"; then fail "$1: '$3' is in $(head -c 600 "$2")"; else pass "$1"; fi
}
expect() { # expect DESCRIPTION ACTUAL WANTED
	if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

for tool in redis-server redis-cli ffprobe script timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
"$PY" -c 'import redis' 2>/dev/null || {
	fail "/usr/bin/python3 with redis-py (apt-get install python3-redis)"
	finish
}
[ -x "$BIN" ] || {
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
}

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itcli.XXXXXX")
chmod 755 "$T"
PIDS=()
cleanup() {
	local p
	exec 2>/dev/null
	for p in "${PIDS[@]}"; do kill -9 "$p"; done
	wait
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_cli: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
cd "$T"
mkdir -p s out state
export REELBOX_STATE_DIR=$T/state
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_get() { # json_get FILE KEY: a top-level field of the one JSON document in FILE
	"$PY" -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}
one_json_doc() { # one_json_doc FILE: exactly one JSON document and nothing else
	"$PY" -c 'import json, sys; json.loads(open(sys.argv[1]).read())' "$1" 2>/dev/null
}

# ---- scripts -------------------------------------------------------------------------
cat >s/mod.py <<'EOF'
import cv2
EOF
cat >s/font.py <<'EOF'
from PIL import ImageFont
font = ImageFont.truetype("Arial.ttf", 32)
EOF
cat >s/input.py <<'EOF'
rows = open("data.csv").read().splitlines()
EOF
cat >s/syntax.py <<'EOF'
x = {"a": 1}
print(f"{x["a"]}")
EOF
cat >s/pip.py <<'EOF'
import subprocess, sys
subprocess.check_call([sys.executable, "-m", "pip", "install", "matplotlib"])
EOF
cat >s/slow.sh <<'EOF'
#!/bin/sh
# Two frames, then nothing.
head -c $((WIDTH * HEIGHT * 3 * 2)) /dev/zero
sleep 30
EOF
cat >s/steady.sh <<'EOF'
#!/bin/sh
# A frame every 0.1 s.
i=0
while [ "$i" -lt "$FRAMES" ]; do
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero
	sleep 0.1
	i=$((i + 1))
done
EOF
cat >s/hog.py <<'EOF'
blocks = []
while True:
    blocks.append(bytearray(16 << 20))
EOF
cat >s/ok.sh <<'EOF'
#!/bin/sh
echo "size $WIDTH $HEIGHT fps $FPS frames $FRAMES" >&2
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr '\000' '\100'
EOF
cat >s/one.sh <<'EOF'
#!/bin/sh
# What the job got, then a single frame.
echo "size $WIDTH $HEIGHT fps $FPS frames $FRAMES" >&2
head -c $((WIDTH * HEIGHT * 3)) /dev/zero
EOF
chmod 644 s/*

SMALL=(--size 64x48 --frames 4)

# ==== a. run ===========================================================================
echo "== a. run: failure sentences"
run_err() { # run_err NAME SCRIPT [OPTS...]: the --json error of a run, in NAME.err
	local name=$1 script=$2
	shift 2
	timeout 60 "$BIN" run --json "${SMALL[@]}" "$@" -o "out/$name.mp4" "$script" >"$name.json" 2>"$name.stderr"
	echo $? >"$name.rc"
	json_get "$name.json" error >"$name.err"
}
run_err mod s/mod.py
expect "a module the runtime lacks fails the job" "$(cat mod.rc)" 1
has "its sentence quotes the script's error line" mod.err "script exited with status 1: ModuleNotFoundError: No module named 'cv2'"
has "and says what python3 can import" mod.err "this host's python3 can import numpy, PIL"
has "and that nothing can be installed" mod.err "nothing can be installed: jobs have no network"
run_err font s/font.py
has "a font that cannot be opened names where fonts are" font.err "fonts are in /"
has "and the fallback" font.err "ImageFont.load_default()"
run_err input s/input.py
has "a missing input file says a job carries only its script" input.err "a job carries only its script (/job/input.py)"
run_err syntax s/syntax.py
has "a syntax error names the interpreter and its version" syntax.err "/usr/bin/python3 is Python 3."
run_err pip s/pip.py
has "pip's failure says packages cannot be installed" pip.err "packages cannot be installed: jobs have no network"
hasnt "pip's --break-system-packages advice is not repeated" pip.err "break-system-packages"

echo "== a. run: limits"
run_err slow s/slow.sh --frames 20 --timeout 1
has "a timeout says how far the job got" slow.err "wall-clock timeout of 1 s reached after 2 of 20 frames"
has "and the flag that raises it, with this host's maximum" slow.err "raise --timeout (this host allows up to"
ff=$(python3 -c 'import json,sys; t = json.load(open(sys.argv[1]))["timings"]; print(t["first_frame_ms"])' slow.json 2>/dev/null)
if [ "${ff:-0}" -gt 0 ]; then
	pass "a job killed by its wall clock still says when its first frame came (first_frame_ms $ff)"
else
	fail "a job killed by its wall clock still says when its first frame came (first_frame_ms ${ff:-none})"
fi
run_err hog s/hog.py --memory 64
has "a memory limit is in MB like --memory, with the flag" hog.err "memory limit of 64 MB reached: raise --memory (this host allows up to"

echo "== a. run: --tier"
# Only the rules are pinned here; whether a gvisor sandbox starts is it_hostile's matrix.
"$BIN" run "${SMALL[@]}" --tier bogus -o out/t.mp4 s/ok.sh 2>tier.err
expect "an unknown --tier is a usage error" "$?" 2
expect "in one line" "$(wc -l <tier.err)" 1
has "naming the tiers" tier.err "reelbox run: unknown tier 'bogus'; known: native, gvisor"
echo '{"tiers": {"enabled": ["native"]}}' >tier-native.json
"$BIN" run "${SMALL[@]}" --config tier-native.json --tier gvisor -o out/t.mp4 s/ok.sh 2>tier.err
expect "a tier the config does not enable is a usage error" "$?" 2
has "naming the rule" tier.err "job asks tier gvisor but the operator does not enable it here (enabled: native)"
echo '{"tiers": {"enabled": ["native", "gvisor"], "runtimes": {"sh": "gvisor"}}}' >tier-sh.json
"$BIN" run "${SMALL[@]}" --config tier-sh.json --tier native -o out/t.mp4 s/ok.sh 2>tier.err
expect "another tier than the runtime's is a usage error" "$?" 2
has "naming the rule" tier.err "reelbox run: job asks tier native but the operator requires gvisor for runtime sh"
"$BIN" exec --tier bogus -- /bin/true 2>tier.err
expect "exec --tier bogus is a usage error" "$?" 2
has "naming the tiers" tier.err "reelbox exec: unknown tier 'bogus'; known: native, gvisor"
"$BIN" run "${SMALL[@]}" --tier native -o out/tn.mp4 s/ok.sh 2>/dev/null
expect "run --tier native renders" "$?" 0
"$BIN" run "${SMALL[@]}" --tier gvisor -o out/tg.mp4 s/ok.sh 2>tier.err
tier_rc=$?
if [ "$tier_rc" -eq 0 ] || { [ "$tier_rc" -eq 2 ] && [ "$(wc -l <tier.err)" -eq 1 ] &&
	grep -qF "reelbox run: tier gvisor cannot start: " tier.err; }; then
	pass "run --tier gvisor renders or says in one line that the tier cannot start ($tier_rc)"
else
	fail "run --tier gvisor renders or says in one line that the tier cannot start: $tier_rc $(cat tier.err)"
fi

echo "== a. run: output, progress, sizes"
"$BIN" run "${SMALL[@]}" -o nodir/sub/x.mp4 s/ok.sh 2>nodir.err
expect "an output in a missing directory is a usage error" "$?" 2
has "naming the directory" nodir.err "output directory 'nodir/sub' does not exist"

"$BIN" run "${SMALL[@]}" --progress - -o out/p.mp4 s/ok.sh >prog.out 2>/dev/null
expect "run --progress - succeeds" "$?" 0
expect "its last block ends the progress" "$(tail -n 1 prog.out)" "progress=end"
has "and says how the job ended" prog.out "state=succeeded"
has "with frames out of the total" prog.out "total_frames=4"
"$BIN" run "${SMALL[@]}" --progress prog.file -o out/p2.mp4 s/ok.sh 2>/dev/null
has "run --progress FILE writes the blocks to the file" prog.file "progress=end"
"$BIN" run --json --progress - "${SMALL[@]}" -o out/p3.mp4 s/ok.sh >/dev/null 2>progjson.err
expect "--progress - with --json is a usage error" "$?" 2
has "saying why" progjson.err "would mix key=value lines into the JSON"

# A terminal (script(1) gives one): the line has an ETA.
script -qec "$BIN run --size 64x48 --frames 12 -o out/tty.mp4 s/steady.sh" /dev/null >tty.out 2>&1
if grep -qE 'frame [0-9]+/12 \([0-9]+%\) [0-9.]+ fps, ETA [0-9]+:[0-9]{2}' tty.out; then
	pass "the terminal progress line has an ETA"
else
	fail "the terminal progress line has an ETA: $(tr '\r' '\n' <tty.out | tail -n 3)"
fi

"$BIN" run --size 99x51 --frames 3 -o out/odd.gif s/ok.sh 2>/dev/null
expect "an odd size renders as GIF" "$?" 0
expect "at that size" "$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 out/odd.gif)" "99,51"
"$BIN" run --size 99x51 --frames 3 -o out/odd.mp4 s/ok.sh 2>odd.err
has "an odd size for MP4 says why, and that GIF takes it" odd.err "must be even for mp4 (GIF takes any size)"
"$BIN" run --size 99999x99999 -o out/huge.mp4 s/ok.sh 2>huge.err
has "a huge size is too large, not odd" huge.err "the largest is 7680x4320"

echo "== a. install"
BUILD=$(dirname "$BIN")
if [ -f "$BUILD/cmake_install.cmake" ]; then
	cmake --install "$BUILD" --prefix "$T/inst" >install.out 2>&1
	expect "cmake --install puts reelbox in PREFIX/bin" "$?" 0
	"$T/inst/bin/reelbox" run "${SMALL[@]}" -o out/inst.mp4 s/ok.sh 2>/dev/null
	expect "and the installed binary renders on its own" "$?" 0
fi

echo "== a. runtimes, help, privileges"
"$BIN" runtimes >rt.out 2>rt.err
expect "reelbox runtimes exits 0 on this host" "$?" 0
has "it lists python3 with its version" rt.out "python3    /usr/bin/python3 (Python 3."
has "and the packages the operator lists" rt.out "packages: numpy"
"$BIN" runtimes --json >rt.json
if one_json_doc rt.json; then pass "runtimes --json is one JSON document"; else fail "runtimes --json is one JSON document"; fi
"$BIN" submit --help >help.out
for opt in --size --fps --frames --duration --pix-fmt --timeout --memory --runtime --wait --progress --output; do
	has "submit --help lists $opt" help.out "$opt"
done
hasnt "submit --help does not point elsewhere" help.out "run's job options]"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	mkdir -p nobody && chmod 777 nobody && cp s/ok.sh nobody/
	(cd / && runuser -u nobody -- env -u REELBOX_STATE_DIR "$BIN" run --size 64x48 --frames 2 -o "$T/nobody/x.mp4" "$T/nobody/ok.sh") 2>nobody.err
	nobody_rc=$?
	# Rootless (tests/it_rootless.sh has the rest): where the kernel lets nobody have a
	# user namespace the job runs and stderr says which limits hold; else a sentence.
	if runuser -u nobody -- unshare -U true 2>/dev/null; then
		expect "as non-root, run renders" "$nobody_rc" 0
		has "and says which limits hold" nobody.err "reelbox run: limits: "
	else
		expect "as non-root without user namespaces, run is refused" "$nobody_rc" 2
		has "saying what it needs without root" nobody.err "without root reelbox needs unprivileged user namespaces"
	fi
fi

# ==== b. the queue =====================================================================
echo "== b. submit, status, the worker"
PORT=$(free_port)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" >/dev/null 2>&1 &
PIDS+=("$!")
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
for i in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" worker --concurrency 1 --output-dir "$T/out" 2>worker.log &
PIDS+=("$!")
# A worker whose Redis is not there (checked at the end): it keeps saying so.
"$BIN" worker --redis "redis://127.0.0.1:$(free_port)" --output-dir "$T/out-nored" 2>nored.log &
NORED=$!
NORED_T=$SECONDS
PIDS+=("$NORED")

"$BIN" submit --json "${SMALL[@]}" s/ok.sh >sub.json 2>/dev/null
expect "submit --json exits 0" "$?" 0
if one_json_doc sub.json; then pass "submit --json prints exactly one JSON document"; else fail "submit --json prints exactly one JSON document: $(cat sub.json)"; fi
expect "whose state is queued" "$(json_get sub.json state)" queued
"$BIN" submit "${SMALL[@]}" s/ok.sh >sub.txt 2>/dev/null
id=$(tail -n 1 sub.txt)
if [[ $id =~ ^[A-Za-z0-9_-]+$ ]]; then pass "without --json the id is the last line ($id)"; else fail "without --json the id is the last line: $(cat sub.txt)"; fi

timeout 60 "$BIN" submit --wait --json "${SMALL[@]}" s/ok.sh >wait.json 2>/dev/null
expect "submit --wait --json exits 0" "$?" 0
if one_json_doc wait.json; then pass "submit --wait --json prints exactly one JSON document"; else fail "submit --wait --json prints exactly one JSON document: $(cat wait.json)"; fi
expect "the final status" "$(json_get wait.json state)" succeeded

name=clip$$
timeout 60 "$BIN" submit --wait -o "$name.webm" "${SMALL[@]}" s/ok.sh >named.out 2>named.err
expect "submit -o NAME.webm succeeds" "$?" 0
expect "the name is the job id" "$(tail -n 1 named.out)" "$name"
if [ -e "out/$name.webm" ] && [ "$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "out/$name.webm")" = vp9 ]; then
	pass "the worker wrote OUTPUT_DIR/$name.webm as VP9"
else
	fail "the worker wrote OUTPUT_DIR/$name.webm as VP9: $(ls out)"
fi
"$BIN" submit -o sub/x.mp4 s/ok.sh 2>path.err
expect "submit -o with a path is a usage error" "$?" 2
has "saying where files go" path.err "the worker writes NAME.EXT into its --output-dir"
"$BIN" submit --id "$name" s/ok.sh 2>exists.err
expect "a taken id is refused" "$?" 2
has "saying what holds it" exists.err "a job with id $name already exists: it succeeded"
has "and when it is free again" exists.err "its result expires in about"

timeout 60 "$BIN" submit --wait "${SMALL[@]}" s/mod.py >fail.out 2>fail.err
expect "submit --wait of a failing script exits 1" "$?" 1
has "it prints the error with the script's own line" fail.err "failed: script exited with status 1: ModuleNotFoundError: No module named 'cv2'"
has "and the log's last lines" fail.err "  | ModuleNotFoundError: No module named 'cv2'"
fid=$(tail -n 1 fail.out)

timeout 60 "$BIN" submit --wait --progress wprog.txt "${SMALL[@]}" s/ok.sh >/dev/null 2>&1
has "submit --wait --progress FILE names the job" wprog.txt "job="
expect "and ends the progress" "$(tail -n 1 wprog.txt)" "progress=end"
has "with the final state" wprog.txt "state=succeeded"

"$BIN" status "$fid" >status.txt
expect "status starts with the job, then its state" "$(awk '{print $1}' status.txt | head -n 3 | tr '\n' ' ')" "job state attempts "
has "status says when it was created" status.txt "created"
has "and how long it ran" status.txt "ran "
has "and the error" status.txt "ModuleNotFoundError"
hasnt "and does not repeat the whole result" status.txt '"timings"'

echo "== b. no worker, not Redis"
PORT2=$(free_port)
redis-server --port "$PORT2" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" >/dev/null 2>&1 &
PIDS+=("$!")
for i in $(seq 50); do redis-cli -p "$PORT2" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" submit --redis "redis://127.0.0.1:$PORT2" --wait "${SMALL[@]}" s/ok.sh >nw.out 2>nw.err &
nwpid=$!
"$BIN" submit --redis "redis://127.0.0.1:$PORT2" --wait --json "${SMALL[@]}" s/ok.sh >nwj.out 2>nwj.err &
nwjpid=$!
sleep 2.5
kill -INT "$nwjpid"
wait "$nwjpid"
expect "with --json too, Ctrl-C exits 130" "$?" 130
if one_json_doc nwj.out; then pass "and stdout is one JSON document"; else fail "and stdout is one JSON document: $(cat nwj.out)"; fi
expect "the job's state, queued" "$(json_get nwj.out state)" queued
has "with the id on stderr first" nwj.err "reelbox: submitted job"
qid=$(head -n 1 nw.out)
if [[ $qid =~ ^[A-Za-z0-9_-]+$ ]]; then pass "with no worker, --wait prints the id at once ($qid)"; else fail "with no worker, --wait prints the id at once: '$(cat nw.out)'"; fi
has "and says it waits for a worker" nw.err "is queued; waiting for a worker"
kill -INT "$nwpid"
wait "$nwpid"
expect "Ctrl-C stops the waiting with 130" "$?" 130
has "saying the job stays queued and how to cancel it" nw.err "job $qid stays queued and a worker will run it (cancel it with reelbox cancel $qid)"
expect "and the job is still queued" "$(REELBOX_REDIS_URL=redis://127.0.0.1:$PORT2 "$BIN" status --json "$qid" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["state"])')" queued

HPORT=$(free_port)
"$PY" -m http.server "$HPORT" --bind 127.0.0.1 >/dev/null 2>&1 &
PIDS+=("$!")
for i in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$HPORT") 2>/dev/null && break; sleep 0.1; done
"$BIN" status --redis "redis://127.0.0.1:$HPORT" "$qid" 2>http.err
expect "a URL that is not Redis is a usage error" "$?" 2
has "named as not Redis" http.err "127.0.0.1:$HPORT did not answer like Redis (an HTTP server?)"

echo "== b. a worker without Redis"
while [ $((SECONDS - NORED_T)) -lt 6 ]; do sleep 0.5; done
kill -TERM "$NORED"
wait "$NORED"
has "a worker that cannot reach Redis logs that it lost it" nored.log '"event":"redis_lost"'
if [ "$(grep -c '"event":"redis_retry"' nored.log)" -ge 2 ]; then
	pass "and then retry lines at a falling rate"
else
	fail "and then retry lines at a falling rate: $(cat nored.log)"
fi
has "each with the next attempt's time" nored.log "next attempt in"

echo "== b. producer.py"
timeout 60 "$PY" "$SRC/examples/producer.py" --redis "$REELBOX_REDIS_URL" --id "prod$$" s/one.sh >prod.out 2>prod.err
expect "producer.py with its defaults succeeds" "$?" 0
"$BIN" status --json "prod$$" >prod.json 2>&1
json_get prod.json log >prod.log
has "and renders with the CLI's defaults (1280x720, 30 fps, 5 s)" prod.log "size 1280 720 fps 30 frames 150"

finish
