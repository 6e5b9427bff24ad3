#!/usr/bin/env bash
# Integration test of the queue under the faults of issue 8, each against real
# redis-servers on private ports (no persistence unless said) and real workers with
# short leases:
#
#  tokens     Redis restarts empty while a worker renders `dupjob` and `dupfail`; both
#             ids are submitted again with other documents. The old renders' results
#             must be refused: the new documents' results are recorded, once.
#  maxmem     Redis at maxmemory: an idle worker with no jobs stream must not spin (its
#             CPU over 10 s, Redis's command count); results refused while jobs run are
#             kept and recorded once maxmemory is raised, leases held meanwhile, no new
#             claims meanwhile, no job rendered twice or dead.
#  paused     a worker paused between its final heartbeat and its rename (a test hook
#             SIGSTOPs it there) loses the job to another worker, then resumes: the
#             recorded sha256 must match the recorded file, and the stable name must
#             point at it. Then the same with the pause after the rename (the owner
#             holds the stable name), before the result is sent.
#  cancel     60 cancels at random moments: never `succeeded` after the cancel said it
#             was cancelled (or requested); a cancel of a running job takes effect at
#             once, not at the next heartbeat.
#  outdir     the output dir removed mid-job and recreated: the job is handed back (not
#             failed), the worker stops claiming until the dir is back, later jobs
#             succeed.
#  diskfull   the output dir's filesystem fills up mid-job (a tmpfs): the same.
#  admission  documents that can never run (limits.pids 1, memory 1) end dead at once
#             on the first attempt with their reason; GIF ignores crf everywhere.
#  connect    `redis_connected` is logged after Redis answers, not after the TCP
#             connect (Redis frozen by DEBUG SLEEP); a result refused for a job that no
#             longer exists says so.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# IT_FAULTS_ONLY="tokens cancel ..." runs only those sections, REELBOX_IT_KEEP=1 keeps
# the temp dir. Needs redis-server, redis-cli, ffprobe, sha256sum and a python3 with
# redis-py; the diskfull section needs mount (root). Prints one PASS/FAIL line per
# check and ends with "N passed, M failed". About 3 minutes on 2 cores.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-.}
BIN=${REELBOX_BIN:-build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
ONLY=${IT_FAULTS_ONLY:-}
T_START=$SECONDS

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
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
res() { if [ $? -eq 0 ]; then pass "$1"; else fail "$1"; fi; }
note() { printf '  .. %s\n' "$*"; }
finish() {
	note "total $((SECONDS - T_START)) s"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
section() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

for tool in redis-server redis-cli ffprobe sha256sum timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
PY=
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import redis' 2>/dev/null; then
		PY=$(command -v "$p")
		break
	fi
done
[ -n "$PY" ] || {
	fail "a python3 with redis-py (apt-get install python3-redis)"
	finish
}
[ -x "$BIN" ] || {
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
}

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itf.XXXXXX")
MARK=itf$$ # in every script name: /job/itf<pid>_* marks our sandboxes
LOGS=$T/logs
S=$T/scripts
mkdir -p "$LOGS" "$S" "$T/state"
export REELBOX_STATE_DIR=$T/state
CFG=$T/config.json
printf '{"result_ttl": 600}\n' >"$CFG"
export REELBOX_CONFIG=$CFG

declare -A RPID=() # port -> redis-server pid
declare -A WPID=() # worker name -> pid
MOUNTS=()

cleanup() {
	local p m
	exec 2>/dev/null
	for p in "${WPID[@]}"; do
		kill -CONT "$p"
		kill -9 "$p"
	done
	for p in "${RPID[@]}"; do kill -9 "$p"; done
	for p in $(pgrep -f "/job/${MARK}_"); do kill -9 "$p"; done
	wait
	for m in "${MOUNTS[@]}"; do umount "$m"; done
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then
		echo "it_faults: keeping $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

new_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_redis PORT [ARGS...]: a redis-server without persistence on 127.0.0.1:PORT.
start_redis() {
	local port=$1 i
	shift
	mkdir -p "$T/redis-$port"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$T/redis-$port" --save '' \
		--appendonly no --protected-mode no --enable-debug-command local \
		--logfile "$T/redis-$port/redis.log" "$@" >/dev/null 2>&1 &
	RPID[$port]=$!
	for i in $(seq 100); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	return 1
}
kill_redis() {
	kill -9 "${RPID[$1]}" 2>/dev/null
	wait "${RPID[$1]}" 2>/dev/null
	unset "RPID[$1]"
}
# start_worker NAME URL OUTDIR [WORKER ARGS...]; its JSON-lines log is $LOGS/NAME.log.
start_worker() {
	local name=$1 url=$2 out=$3
	shift 3
	"$BIN" worker --redis "$url" --output-dir "$out" --grace 2 --config "$CFG" "$@" \
		2>"$LOGS/$name.log" &
	WPID[$name]=$!
}
stop_worker() { # stop_worker NAME: SIGTERM, then SIGKILL after 15 s
	local p=${WPID[$1]} i
	kill -CONT "$p" 2>/dev/null
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 150); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}
alive() { kill -0 "$1" 2>/dev/null; }
status_json() { "$BIN" status --json --redis "$1" "$2" 2>/dev/null; }
status_field() { # status_field URL ID FIELD
	status_json "$1" "$2" | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else d)' "$3" 2>/dev/null
}
is_final() { case $1 in succeeded | failed | dead | cancelled) return 0 ;; esac; return 1; }
# wait_state URL ID SECONDS STATE...: until the job is in one of the states.
wait_state() {
	local url=$1 id=$2 secs=$3 i st s
	shift 3
	for i in $(seq $((secs * 5))); do
		st=$(status_field "$url" "$id" state)
		for s in "$@"; do [ "$st" = "$s" ] && return 0; done
		sleep 0.2
	done
	return 1
}
wait_final() { wait_state "$1" "$2" "$3" succeeded failed dead cancelled; }
# wait_log NAME PATTERN SECONDS: until the worker's log has a line matching PATTERN.
wait_log() {
	local i
	for i in $(seq $(($3 * 10))); do
		grep -q -E "$2" "$LOGS/$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# events NAME EVENT [JOB]: how many lines of that event (for that job) a worker logged.
events() {
	if [ $# -ge 3 ]; then
		grep -c -E "\"event\":\"$2\".*\"job\":\"$3\"|\"job\":\"$3\".*\"event\":\"$2\"" "$LOGS/$1.log" 2>/dev/null
	else
		grep -c "\"event\":\"$2\"" "$LOGS/$1.log" 2>/dev/null
	fi
}
frames_of() { # decoded frames of a video
	ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
		-of csv=p=0 "$1" 2>/dev/null
}
sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
metric() { # metric PORT NAME: one value from a worker's metrics port
	"$PY" -c 'import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=3).read().decode()
for l in t.splitlines():
    if l.split(" ")[0] == sys.argv[2]:
        print(l.split(" ")[1])' "$1" "$2" 2>/dev/null
}
now_ms() { date +%s%3N; }
has_hook=0
grep -q -a 'stop-before-rename' "$BIN" && has_hook=1

# ---- scripts ----------------------------------------------------------------------
# A frame every 0.1 s (FRAMES of them), each a grey that changes per frame.
cat >"$S/${MARK}_tick.sh" <<'EOF'
#!/bin/sh
i=0
while [ "$i" -lt "$FRAMES" ]; do
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero | tr '\000' "\\$(printf '%03o' $((i * 7 % 200 + 20)))"
	sleep 0.1
	i=$((i + 1))
done
EOF
# The same at 0.15 s a frame.
sed 's/sleep 0.1$/sleep 0.15/' "$S/${MARK}_tick.sh" >"$S/${MARK}_slowtick.sh"
# All frames at once.
cat >"$S/${MARK}_fast.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr '\000' '\200'
EOF
# Fails after 2 s or 4 s, saying which.
printf '#!/bin/sh\nsleep 2\necho "boom-old" >&2\nexit 3\n' >"$S/${MARK}_fail2.sh"
printf '#!/bin/sh\nsleep 4\necho "boom-new" >&2\nexit 3\n' >"$S/${MARK}_fail4.sh"
# One frame, then nothing for a minute.
cat >"$S/${MARK}_hang.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3)) /dev/zero
sleep 60
EOF
# Noise that does not compress: 20 frames at once, 2 s of nothing, then the rest.
cat >"$S/${MARK}_noise.py" <<'EOF'
import os, sys, time
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    if i == 20:
        sys.stdout.flush()
        time.sleep(2)
    sys.stdout.buffer.write(os.urandom(w * h * 3))
EOF

submit() { # submit URL ID SCRIPT [OPTIONS...]
	local url=$1 id=$2 script=$3
	shift 3
	"$BIN" submit --redis "$url" --id "$id" --size 64x48 --fps 10 "$@" "$S/$script" >/dev/null 2>>"$LOGS/submit.err"
}

# ==== tokens ===========================================================================
if section tokens; then
	echo "== tokens: Redis restarts empty while old renders are in flight"
	port=$(new_port)
	start_redis "$port" || fail "redis-server starts"
	URL=redis://127.0.0.1:$port
	OUT=$T/out-tokens
	# A 30 s lease: no heartbeat comes between the restart and the new claims, so only
	# the tokens can tell the old claims from the new ones.
	start_worker T1 "$URL" "$OUT" --concurrency 2 --lease 30
	submit "$URL" dupjob "${MARK}_tick.sh" --frames 30
	submit "$URL" dupfail "${MARK}_fail2.sh" --frames 5
	wait_state "$URL" dupjob 15 running && wait_state "$URL" dupfail 15 running
	res "the old dupjob (30 frames) and dupfail run on worker T1"
	kill_redis "$port"
	start_redis "$port"
	res "Redis restarted empty ($(redis-cli -p "$port" dbsize) keys)"
	submit "$URL" dupjob "${MARK}_slowtick.sh" --frames 40
	submit "$URL" dupfail "${MARK}_fail4.sh" --frames 5
	start_worker T2 "$URL" "$OUT" --concurrency 2 --lease 30
	wait_final "$URL" dupjob 30
	wait_final "$URL" dupfail 30
	sleep 1
	st=$(status_field "$URL" dupjob state)
	fr=$(status_field "$URL" dupjob frames)
	outp=$(status_field "$URL" dupjob output)
	sha=$(status_field "$URL" dupjob sha256)
	ff=$(frames_of "$outp")
	[ "$st" = succeeded ] && [ "$fr" = 40 ] && [ "$ff" = 40 ]
	res "dupjob records the new document's result (state $st, frames $fr, file $ff frames)"
	[ -n "$sha" ] && [ "$sha" = "$(sha_of "$outp")" ]
	res "the recorded sha256 of dupjob matches its file"
	rec=$(($(events T1 job_recorded dupjob) + $(events T2 job_recorded dupjob)))
	check "dupjob was recorded once over both workers ($rec)" [ "$rec" -eq 1 ]
	check "worker T1's old result for dupjob was refused" [ "$(events T1 result_refused dupjob)" -ge 1 ]
	flog=$(status_field "$URL" dupfail log)
	rec=$(($(events T1 job_recorded dupfail) + $(events T2 job_recorded dupfail)))
	[ "$rec" -eq 1 ] && [[ $flog == *boom-new* ]]
	res "dupfail (failing scripts) recorded once, the new document's failure ($rec; log: ${flog//$'\n'/ })"
	stop_worker T1
	stop_worker T2
	kill_redis "$port"
fi

# ==== maxmem ===========================================================================
if section maxmem; then
	echo "== maxmem: Redis at maxmemory"
	port=$(new_port)
	start_redis "$port" --maxmemory 1 --maxmemory-policy noeviction || fail "redis-server starts"
	URL=redis://127.0.0.1:$port
	OUT=$T/out-maxmem
	MP=$(new_port)
	start_worker M1 "$URL" "$OUT" --concurrency 2 --lease 3 --metrics-port "$MP"
	sleep 1
	c0=$(cpu_ticks "${WPID[M1]}")
	n0=$(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }')
	sleep 10
	c1=$(cpu_ticks "${WPID[M1]}")
	n1=$(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }')
	hz=$(getconf CLK_TCK)
	cpu_ms=$(((c1 - c0) * 1000 / hz))
	cmds=$((n1 - n0))
	[ "$cpu_ms" -lt 300 ] && [ "$cmds" -lt 100 ]
	res "an idle worker, Redis at maxmemory, no jobs stream: ${cpu_ms} ms CPU and $cmds Redis commands in 10 s"
	# Redis 7 lets the take script's writes through at maxmemory once its first write
	# did (XAUTOCLAIM); with too few replicas it refuses every write, the take's too.
	redis-cli -p "$port" config set min-replicas-to-write 1 >/dev/null
	sleep 1
	c0=$(cpu_ticks "${WPID[M1]}")
	n0=$(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }')
	sleep 6
	c1=$(cpu_ticks "${WPID[M1]}")
	n1=$(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }')
	cpu_ms=$(((c1 - c0) * 1000 / hz))
	cmds=$((n1 - n0))
	[ "$cpu_ms" -lt 200 ] && [ "$cmds" -lt 40 ]
	res "an idle worker whose takes Redis refuses backs off: ${cpu_ms} ms CPU and $cmds Redis commands in 6 s"
	nref=$(grep -c '"event":"claims_refused"' "$LOGS/M1.log")
	check "the worker said once that Redis refuses its claims ($nref log line(s))" [ "$nref" -eq 1 ]
	redis-cli -p "$port" config set min-replicas-to-write 0 >/dev/null
	wait_log M1 '"event":"claims_accepted"' 10
	res "and that Redis takes them again, within the 5 s backoff cap"

	redis-cli -p "$port" config set maxmemory 0 >/dev/null
	for i in 1 2 3 4 5 6; do submit "$URL" "mm$i" "${MARK}_slowtick.sh" --frames 10; done
	for _ in $(seq 100); do
		[ "$(status_field "$URL" mm1 state)" = running ] && [ "$(status_field "$URL" mm2 state)" = running ] && break
		sleep 0.1
	done
	started0=$(events M1 job_started)
	redis-cli -p "$port" config set maxmemory 1 >/dev/null
	t0=$SECONDS
	# A second worker, free to take over any lease M1 lets expire while it waits.
	start_worker M2 "$URL" "$OUT" --concurrency 1 --lease 3
	note "maxmemory 1 at t=0 with mm1, mm2 running ($started0 job(s) started)"
	wait_log M1 '"event":"results_refused"' 10
	res "the worker logs that Redis refuses its results"
	sleep 1
	m_wait=$(metric "$MP" reelbox_results_waiting)
	m_claim=$(metric "$MP" reelbox_claiming)
	[ "${m_wait:-0}" -ge 1 ] && [ "$m_claim" = 0 ]
	res "metrics while refused: results_waiting ${m_wait:-?}, claiming ${m_claim:-?}"
	left=$((7 - (SECONDS - t0)))
	[ "$left" -gt 0 ] && sleep "$left" # past twice the 3 s lease
	started1=$(events M1 job_started)
	check "no job claimed while results were refused (job_started $started0 -> $started1)" [ "$started1" -eq "$started0" ]
	redis-cli -p "$port" config set maxmemory 0 >/dev/null
	note "maxmemory raised at t=$((SECONDS - t0)) s"
	for i in 1 2 3 4 5 6; do wait_final "$URL" "mm$i" 40; done
	bad=
	for i in 1 2 3 4 5 6; do
		st=$(status_field "$URL" "mm$i" state)/$(status_field "$URL" "mm$i" attempts)
		o=$(status_field "$URL" "mm$i" output)
		sh=$(status_field "$URL" "mm$i" sha256)
		ns=$(($(events M1 job_started "mm$i") + $(events M2 job_started "mm$i")))
		nr=$(($(events M1 job_recorded "mm$i") + $(events M2 job_recorded "mm$i")))
		if [ "$st" != succeeded/1 ] || [ "$ns" != 1 ] || [ "$nr" != 1 ] || [ "$sh" != "$(sha_of "$o")" ]; then
			bad="$bad mm$i:$st,started=$ns,recorded=$nr"
		fi
	done
	check "every job succeeded on its first attempt, rendered once, recorded once, file matches${bad:+ (bad:$bad)}" [ -z "$bad" ]
	wait_log M1 '"event":"results_accepted"' 5
	res "the worker logs that Redis accepts its results again"
	check "metrics: claiming again" [ "$(metric "$MP" reelbox_claiming)" = 1 ]
	stop_worker M1
	stop_worker M2
	kill_redis "$port"
fi

# ==== paused ===========================================================================
if section paused; then
	echo "== paused: the owner stops between its final heartbeat and its rename"
	if [ "$has_hook" != 1 ]; then
		fail "the worker has the test hook REELBOX_TEST_HOOK=stop-before-rename"
	else
		port=$(new_port)
		start_redis "$port" || fail "redis-server starts"
		URL=redis://127.0.0.1:$port
		OUT=$T/out-paused
		REELBOX_TEST_HOOK=stop-before-rename start_worker P1 "$URL" "$OUT" --concurrency 1 --lease 2
		submit "$URL" paused "${MARK}_fast.sh" --frames 8
		wait_log P1 '"event":"test_hook_stop"' 20
		pstate=$(awk '{ print $3 }' "/proc/${WPID[P1]}/stat" 2>/dev/null)
		check "worker P1 stopped itself after its final heartbeat (state $pstate)" [ "$pstate" = T ]
		start_worker P2 "$URL" "$OUT" --concurrency 1 --lease 2
		wait_state "$URL" paused 20 succeeded failed dead
		outp=$(status_field "$URL" paused output)
		sha=$(status_field "$URL" paused sha256)
		check "worker P2 took the job over and recorded it" [ "$(events P2 job_recorded paused)" -eq 1 ]
		kill -CONT "${WPID[P1]}"
		wait_log P1 '"event":"(result_refused|job_abandoned)".*"paused"' 15
		res "worker P1 resumed and its result was refused"
		sleep 0.5
		fsha=$(sha_of "$outp")
		[ -n "$sha" ] && [ "$sha" = "$fsha" ]
		res "the recorded sha256 matches the recorded file ($outp)"
		link=$(readlink -f "$OUT/paused.mp4")
		check "the stable name paused.mp4 points at the recorded file ($link)" [ "$link" = "$outp" ]
		check "the stable name's content matches the recorded sha256" [ "$(sha_of "$OUT/paused.mp4")" = "$sha" ]
		others=$(ls -A "$OUT" | grep '^paused' | grep -v -x -e paused.mp4 -e "$(basename "$outp")" \
			-e paused.jpg -e "$(basename "${outp%.mp4}").jpg" | tr '\n' ' ')
		check "P1's own render is gone, no other file for the job${others:+ ($others)}" [ -z "$others" ]
		check "the recorded file is a valid video (8 frames)" [ "$(frames_of "$outp")" = 8 ]
		stop_worker P1
		stop_worker P2

		# The same, one step later: the owner moved its video into place and took the
		# free stable name, then stops before it sends its result.
		REELBOX_TEST_HOOK=stop-before-complete start_worker P3 "$URL" "$OUT" --concurrency 1 --lease 2
		submit "$URL" paused2 "${MARK}_fast.sh" --frames 6
		wait_log P3 '"event":"test_hook_stop"' 20
		held=$(readlink "$OUT/paused2.mp4")
		check "worker P3 stopped holding the stable name ($held)" [ -n "$held" ]
		start_worker P4 "$URL" "$OUT" --concurrency 1 --lease 2
		wait_state "$URL" paused2 20 succeeded failed dead
		outp=$(status_field "$URL" paused2 output)
		sha=$(status_field "$URL" paused2 sha256)
		wait_log P4 '"event":"job_recorded".*"paused2"' 5
		check "worker P4 recorded the job and took the stable name over ($(readlink "$OUT/paused2.mp4"))" \
			[ "$(readlink -f "$OUT/paused2.mp4")" = "$outp" ]
		kill -CONT "${WPID[P3]}"
		wait_log P3 '"event":"(result_refused|job_abandoned)".*"paused2"' 15
		res "worker P3 resumed and its result was refused"
		sleep 0.5
		[ "$(readlink -f "$OUT/paused2.mp4")" = "$outp" ] && [ "$(sha_of "$OUT/paused2.mp4")" = "$sha" ] &&
			[ "$(sha_of "$outp")" = "$sha" ]
		res "the stable name still points at the recorded file, whose sha256 matches"
		others=$(ls -A "$OUT" | grep '^paused2' | grep -v -x -e paused2.mp4 -e "$(basename "$outp")" \
			-e paused2.jpg -e "$(basename "${outp%.mp4}").jpg" | tr '\n' ' ')
		check "P3 deleted its own file${others:+ ($others)}" [ -z "$others" ]
		stop_worker P3
		stop_worker P4
		kill_redis "$port"
	fi
fi

# ==== cancel ===========================================================================
if section cancel; then
	echo "== cancel: 60 cancels at random moments"
	port=$(new_port)
	start_redis "$port" || fail "redis-server starts"
	URL=redis://127.0.0.1:$port
	OUT=$T/out-cancel
	# A 30 s lease: heartbeats every 10 s, so a cancel that waited for one would show.
	start_worker C1 "$URL" "$OUT" --concurrency 4 --lease 30
	RANDOM=42
	mkdir -p "$T/cancel"
	for i in $(seq -w 1 60); do
		n=$((3 + RANDOM % 12))
		d=$((RANDOM % 1500))
		(
			submit "$URL" "c$i" "${MARK}_tick.sh" --frames "$n"
			sleep "$(printf '0.%03d' "$((d % 1000))")"
			[ "$d" -ge 1000 ] && sleep 1
			t0=$(now_ms)
			ans=$("$BIN" cancel --redis "$URL" "c$i" 2>&1)
			rc=$?
			echo "$rc|$(($(now_ms) - t0))|$ans" >"$T/cancel/c$i"
		) &
		sleep 0.15
	done
	for _ in $(seq 300); do
		[ "$(ls "$T/cancel" | wc -l)" -ge 60 ] && break
		sleep 0.1
	done
	for i in $(seq -w 1 60); do wait_final "$URL" "c$i" 20; done
	"$PY" - "$T/cancel" "$URL" "$BIN" >"$T/cancel.txt" <<'EOF'
import json, os, subprocess, sys
d, url, binp = sys.argv[1:4]
kinds, lost, toolate_bad, slowest, states = {}, [], [], 0, {}
for f in sorted(os.listdir(d)):
    rc, ms, ans = open(os.path.join(d, f)).read().rstrip("\n").split("|", 2)
    st = json.loads(subprocess.run([binp, "status", "--json", "--redis", url, f],
                                   capture_output=True, text=True).stdout or "{}").get("state")
    states[st] = states.get(st, 0) + 1
    a = ans.split(": ", 1)[-1]
    k = "too late" if "too late" in a else a.split(";")[0].split(" (")[0]
    if k == "cancelled" and "worker" in a:
        k = "cancelled while running"
    kinds[k] = kinds.get(k, 0) + 1
    if k != "too late" and st == "succeeded":
        lost.append("%s(%s)" % (f, a))
    if k == "too late" and (rc != "1" or st not in ("succeeded", "failed", "dead")):
        toolate_bad.append("%s(rc %s, %s)" % (f, rc, st))
    if k != "too late":
        slowest = max(slowest, int(ms))
print("kinds", json.dumps(kinds, sort_keys=True))
print("states", json.dumps(states, sort_keys=True))
print("lost", len(lost), " ".join(lost[:6]))
print("toolate", len(toolate_bad), " ".join(toolate_bad[:6]))
print("slowest", slowest)
EOF
	line() { awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2) }' "$T/cancel.txt"; }
	note "cancel answers $(line kinds); final states $(line states)"
	check "no job ended succeeded after its cancel was answered as taking effect: $(line lost)" [ "$(line lost | awk '{ print $1 }')" = 0 ]
	check "every 'too late' exits 1 and names a final state $(line toolate)" [ "$(line toolate | awk '{ print $1 }')" = 0 ]
	files=$(for f in "$T"/cancel/*; do
		id=$(basename "$f")
		[ "$(status_field "$URL" "$id" state)" = cancelled ] && ls "$OUT" 2>/dev/null | grep "^$id\." | head -1
	done | tr '\n' ' ')
	check "cancelled jobs left no file in the output dir${files:+ ($files)}" [ -z "$files" ]
	submit "$URL" chang "${MARK}_hang.sh" --frames 5
	wait_state "$URL" chang 15 running
	sleep 1
	t0=$(now_ms)
	ans=$("$BIN" cancel --redis "$URL" chang 2>&1)
	rc=$?
	t1=$(now_ms)
	st=$(status_field "$URL" chang state)
	[ "$st" = cancelled ] && [ "$rc" -eq 0 ] && [ $((t1 - t0)) -lt 3000 ]
	res "cancel of a running job with a 30 s lease ends it cancelled in $((t1 - t0)) ms (rc $rc: $ans; state $st)"
	ans=$("$BIN" cancel --redis "$URL" chang 2>&1)
	check "a second cancel says it is already cancelled, exit 0 ($ans)" [ $? -eq 0 ]
	submit "$URL" cdone "${MARK}_fast.sh" --frames 3
	wait_final "$URL" cdone 15
	ans=$("$BIN" cancel --redis "$URL" cdone 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && [[ $ans == *"too late: it already succeeded"* ]]
	res "cancel of a finished job: rc $rc: $ans"
	stop_worker C1
	kill_redis "$port"
fi

# ==== outdir ===========================================================================
if section outdir; then
	echo "== outdir: the output dir removed mid-job, then recreated"
	port=$(new_port)
	start_redis "$port" || fail "redis-server starts"
	URL=redis://127.0.0.1:$port
	OUT=$T/out-outdir
	MP=$(new_port)
	start_worker D1 "$URL" "$OUT" --concurrency 1 --lease 3 --metrics-port "$MP"
	submit "$URL" d1 "${MARK}_tick.sh" --frames 25
	wait_state "$URL" d1 15 running
	sleep 1
	rm -rf "$OUT"
	wait_state "$URL" d1 15 queued failed dead succeeded
	st=$(status_field "$URL" d1 state)
	err=$(status_field "$URL" d1 error)
	check "the job whose output dir vanished is handed back, not failed (state $st: $err)" [ "$st" = queued ]
	wait_log D1 '"event":"disk_unusable"' 5
	res "the worker logs its output dir as unusable"
	check "metrics: disk_ok 0, claiming 0" [ "$(metric "$MP" reelbox_disk_ok)/$(metric "$MP" reelbox_claiming)" = 0/0 ]
	submit "$URL" d2 "${MARK}_fast.sh" --frames 5
	sleep 3
	st2=$(status_field "$URL" d2 state)/$(status_field "$URL" d1 state)
	check "while the dir is gone, no job is taken (d2/d1: $st2)" [ "$st2" = queued/queued ]
	mkdir -p "$OUT"
	wait_log D1 '"event":"disk_recovered"' 10
	res "the worker logs the recovery once the dir is back"
	wait_final "$URL" d1 30
	wait_final "$URL" d2 30
	s1=$(status_field "$URL" d1 state)/$(status_field "$URL" d1 attempts)
	s2=$(status_field "$URL" d2 state)/$(status_field "$URL" d2 attempts)
	o1=$(status_field "$URL" d1 output)
	[ "$s1" = succeeded/2 ] && [ "$s2" = succeeded/1 ] && [ "$(frames_of "$o1")" = 25 ]
	res "later jobs succeed (d1 $s1, d2 $s2)"
	check "metrics: disk_ok 1" [ "$(metric "$MP" reelbox_disk_ok)" = 1 ]
	stop_worker D1
	kill_redis "$port"
fi

# ==== diskfull =========================================================================
if section diskfull; then
	echo "== diskfull: the output filesystem fills up mid-job"
	FULL=$T/full
	mkdir -p "$FULL"
	if ! mount -t tmpfs -o size=64m tmpfs "$FULL" 2>/dev/null; then
		note "cannot mount a tmpfs here: diskfull skipped"
	else
		MOUNTS+=("$FULL")
		port=$(new_port)
		start_redis "$port" || fail "redis-server starts"
		URL=redis://127.0.0.1:$port
		MP=$(new_port)
		start_worker F1 "$URL" "$FULL" --concurrency 1 --lease 3 --metrics-port "$MP"
		"$BIN" submit --redis "$URL" --id f1 --size 320x240 --fps 10 --frames 60 --preset ultrafast \
			"$S/${MARK}_noise.py" >/dev/null 2>>"$LOGS/submit.err"
		wait_state "$URL" f1 15 running
		sleep 0.7
		dd if=/dev/zero of="$FULL/filler" bs=1M 2>/dev/null
		note "filled: $(df -k "$FULL" | awk 'NR == 2 { print $4 }') KiB free"
		wait_state "$URL" f1 20 queued failed dead succeeded
		st=$(status_field "$URL" f1 state)
		err=$(status_field "$URL" f1 error)
		check "the job that hit a full disk is handed back, not failed (state $st: $err)" [ "$st" = queued ]
		wait_log F1 '"event":"disk_unusable"' 5
		res "the worker logs its disk as unusable"
		check "metrics: disk_ok 0" [ "$(metric "$MP" reelbox_disk_ok)" = 0 ]
		rm -f "$FULL/filler"
		wait_log F1 '"event":"disk_recovered"' 10
		res "the worker logs the recovery once there is room"
		wait_final "$URL" f1 40
		s1=$(status_field "$URL" f1 state)/$(status_field "$URL" f1 attempts)
		check "the job succeeds on its next attempt ($s1)" [ "$s1" = succeeded/2 ]
		stop_worker F1
		kill_redis "$port"
	fi
fi

# ==== admission ========================================================================
if section admission; then
	echo "== admission: documents that can never run"
	port=$(new_port)
	start_redis "$port" || fail "redis-server starts"
	URL=redis://127.0.0.1:$port
	OUT=$T/out-admission
	start_worker A1 "$URL" "$OUT" --concurrency 1 --lease 3
	wait_log A1 '"event":"redis_connected"' 10
	doc() { printf '{"script":"head -c 46080 /dev/zero\\n","runtime":"sh","width":64,"height":48,"fps":10,"frames":5%s}' "$1"; }
	t0=$(now_ms)
	redis-cli -p "$port" xadd reelbox:jobs '*' id apids job "$(doc ',"limits":{"pids":1}')" >/dev/null
	redis-cli -p "$port" xadd reelbox:jobs '*' id amem job "$(doc ',"limits":{"memory":1}')" >/dev/null
	redis-cli -p "$port" xadd reelbox:jobs '*' id agif job "$(doc ',"format":"gif","crf":999')" >/dev/null
	for id in apids amem; do wait_final "$URL" "$id" 20; done
	t1=$(now_ms)
	wait_final "$URL" agif 20
	for id in apids amem; do
		st=$(status_field "$URL" "$id" state)/$(status_field "$URL" "$id" attempts)
		err=$(status_field "$URL" "$id" error)
		[ "$st" = dead/1 ] && [[ $err == *"below the minimum"* ]]
		res "$id ends dead on its first attempt with its reason ($st: $err)"
	done
	check "both ended within 3 s of being written ($((t1 - t0)) ms)" [ $((t1 - t0)) -lt 3000 ]
	st=$(status_field "$URL" agif state)/$(status_field "$URL" agif attempts)
	o=$(status_field "$URL" agif output)
	[ "$st" = succeeded/1 ] && [ "$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$o")" = gif ]
	res "a GIF document with crf 999 renders on its first attempt, crf ignored ($st)"
	out=$("$BIN" submit --redis "$URL" --pids 1 --size 64x48 "$S/${MARK}_fast.sh" 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] && [[ $out == *"pids 1 is below the minimum of 8"* ]]
	res "submit --pids 1 is refused with the same sentence (rc $rc: $out)"
	"$BIN" run --size 64x48 --frames 3 --crf 999 -o "$T/crf.gif" "$S/${MARK}_fast.sh" >/dev/null 2>&1
	check "run --crf 999 -o x.gif ignores crf too" [ $? -eq 0 ]
	out=$("$BIN" run --size 64x48 --frames 3 --crf 999 -o "$T/crf.mp4" "$S/${MARK}_fast.sh" 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] && [[ $out == *"crf 999 is not allowed for mp4"* ]]
	res "run --crf 999 -o x.mp4 is refused with the range (rc $rc: $out)"
	stop_worker A1
	kill_redis "$port"
fi

# ==== connect ==========================================================================
if section connect; then
	echo "== connect: redis_connected after the first reply; a vanished job"
	port=$(new_port)
	start_redis "$port" || fail "redis-server starts"
	URL=redis://127.0.0.1:$port
	OUT=$T/out-connect
	redis-cli -p "$port" debug sleep 3 >/dev/null &
	sleep 0.3
	t0=$(now_ms)
	start_worker R1 "$URL" "$OUT" --concurrency 1 --lease 30
	wait_log R1 '"event":"redis_connected"' 15
	ts=$(grep -m1 '"event":"redis_connected"' "$LOGS/R1.log" | "$PY" -c 'import datetime, json, sys
t = json.load(sys.stdin)["ts"]
print(int(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))')
	check "redis_connected is logged once Redis answers ($((ts - t0)) ms after the start; Redis frozen for 2.7 s)" [ $((ts - t0)) -ge 2400 ]
	submit "$URL" vanish "${MARK}_tick.sh" --frames 20
	wait_state "$URL" vanish 15 running
	redis-cli -p "$port" del reelbox:job:vanish >/dev/null
	wait_log R1 '"event":"(result_refused|job_abandoned)".*"vanish"' 15
	why=$(grep -E '"event":"(result_refused|job_abandoned)"' "$LOGS/R1.log" | grep vanish | head -1)
	check "the worker says the job no longer exists ($why)" grep -q "no longer exists" <<<"$why"
	stop_worker R1
	kill_redis "$port"
fi

for name in "${!WPID[@]}"; do
	nonjson=$(grep -v -c '^{' "$LOGS/$name.log")
	[ "$nonjson" -eq 0 ] || fail "worker $name's log is JSON lines only ($nonjson other lines)"
done
procs=$(pgrep -a -f "/job/${MARK}_" | head -3 | tr '\n' ';')
check "no sandbox processes left${procs:+: $procs}" [ -z "$procs" ]
finish
