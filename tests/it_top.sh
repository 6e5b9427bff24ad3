#!/usr/bin/env bash
# Integration test of `reelbox top` against a real redis-server on a private port and a
# real `reelbox worker` running real jobs in its sandbox:
#
#  - top --once shows the right counts per state (a job succeeded, one failed, one
#    running with its progress bar, one queued), throughput, the workers alive and one
#    not seen for 30 s marked NOT ALIVE, and a worker entry a stranger wrote with escape
#    sequences shown without them;
#  - top --json is one document that python3 parses, whose counts per state match
#    `reelbox list --json` and whose running list holds the running job;
#  - on a terminal (script(1)) it redraws in place, hides the cursor and shows it again
#    at SIGTERM, exiting 0;
#  - a bad option exits 2 with one line; an unreachable Redis exits 1 with one line.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_IT_KEEP=1 keeps the temp dir. Needs redis-server, redis-cli and python3.
# Prints one PASS/FAIL line per check and ends with "N passed, M failed"; exits 1 when a
# check failed. Bounded: about 10 s, 60 s at most.
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

for tool in redis-server redis-cli python3 timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-ittop.XXXXXX")
MARK=ittop$$
OUT=$T/out
mkdir -p "$T/redis" "$T/state" "$T/scripts" "$OUT"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$T/state
export REELBOX_CONFIG=$T/config.json
printf '{"result_ttl": 600}\n' >"$REELBOX_CONFIG"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")
REDIS_PID=
WORKER_PID=

cleanup() {
	local p
	exec 2>/dev/null
	[ -n "$WORKER_PID" ] && kill -9 "$WORKER_PID" 2>/dev/null
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null
	for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_top: keeping $T"; else rm -rf "$T"; fi
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

jget() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
status_field() { # status_field ID FIELD
	"$BIN" status --json "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}
wait_state() { # wait_state ID SECONDS STATE
	for _ in $(seq $(($2 * 10))); do
		[ "$(status_field "$1" state)" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

S=$T/scripts
cat >"$S/${MARK}_ok.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero
EOF
cat >"$S/${MARK}_fail.sh" <<'EOF'
#!/bin/sh
echo "boom" >&2
exit 3
EOF
cat >"$S/${MARK}_slow.sh" <<'EOF'
#!/bin/sh
i=0
while [ "$i" -lt "$FRAMES" ]; do
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero
	sleep 0.2
	i=$((i + 1))
done
EOF
sub() { # sub ID SCRIPT [FRAMES]
	"$BIN" submit --id "$1" --size 64x48 --fps 10 --frames "${3:-5}" "$S/$2" >/dev/null
}

# One slot: the slow job holds it, so the job submitted after it stays queued.
"$BIN" worker --concurrency 1 --output-dir "$OUT" --config "$REELBOX_CONFIG" 2>"$T/worker.log" &
WORKER_PID=$!

sub t_ok "${MARK}_ok.sh"
wait_state t_ok 20 succeeded
sub t_fail "${MARK}_fail.sh"
wait_state t_fail 20 failed
sub t_slow "${MARK}_slow.sh" 300
wait_state t_slow 20 running
sub t_queued "${MARK}_ok.sh"
sleep 1.5 # progress, and the worker's registry entry
now=$("${RCLI[@]}" time | head -1)
"${RCLI[@]}" hset reelbox:workers $'evil\e]0;pwned\a' \
	"{\"seen\": ${now}000, \"host\": \"\\u001b[2Jwiped\", \"slots\": 1}" >/dev/null
"${RCLI[@]}" hset reelbox:workers quiet "{\"seen\": $((now - 30))000, \"slots\": 2}" >/dev/null

out=$("$BIN" top --once 2>&1)
rc=$?
check "top --once exits 0 (rc $rc)" [ $rc = 0 ]
check "the counts per state: queued 1 running 1 succeeded 1 failed 1" \
	grep -q "queued 1 running 1 succeeded 1 failed 1 cancelled 0 dead 0" <<<"$out"
check "throughput over the last minute: 2 jobs/min" grep -q "2 jobs/min (succeeded 1, failed 1" <<<"$out"
check "the oldest queued job's age is shown, of 4 recent jobs" \
	grep -Eq "oldest queued [0-9]+(ms|s)  \(4 recent jobs\)" <<<"$out"
check "every line fits 80 columns" [ "$(awk 'length > 80' <<<"$out" | wc -l)" = 0 ]
check "two workers alive (the real one and the stranger's) of three" grep -q "WORKERS   2 alive of 3" <<<"$out"
check "one not seen for 30 s is marked NOT ALIVE" grep -Eq '^  quiet +.*NOT ALIVE$' <<<"$out"
check "the running job has a progress bar" grep -Eq '^  t_slow +.*\[#*\.*\] +[0-9]+% +[0-9]+/300' <<<"$out"
check "no escape byte or BEL from a stranger's worker entry reaches the terminal" \
	[ "$(tr -d '\n' <<<"$out" | tr -cd '\033\007\233' | wc -c)" = 0 ]
check "the stranger's entry is listed, sanitized" grep -q "evil?]0;pwned?" <<<"$out"

js=$("$BIN" top --json)
lj=$("$BIN" list --json)
check "top --json parses as one object with states, workers and running" \
	[ "$(jget "$js" 'all(k in d for k in ("states", "workers", "running", "now"))')" = True ]
counts=$(jget "$lj" '" ".join(str(sum(1 for o in d if o["state"] == s)) for s in ("queued","running","succeeded","failed","cancelled","dead"))')
tcounts=$(jget "$js" '" ".join(str(d["states"][s]) for s in ("queued","running","succeeded","failed","cancelled","dead"))')
check "its counts per state match list --json ($tcounts vs $counts)" [ -n "$counts" ] && [ "$tcounts" = "$counts" ]
check "its running list holds t_slow with progress" \
	[ "$(jget "$js" '[o["id"] for o in d["running"]] == ["t_slow"] and d["running"][0]["progress"]["total"] == 300')" = True ]
check "the real worker's entry: alive, 1 slot, a recent heartbeat" \
	[ "$(jget "$js" 'any(w["alive"] and w.get("slots") == 1 and w["heartbeat_age_ms"] < 15000 and not w["name"].startswith("evil") for w in d["workers"])')" = True ]

if command -v script >/dev/null; then
	tty=$(script -qec "timeout --preserve-status -s TERM 1.6 '$BIN' top --interval 0.5; echo rc=\$?" /dev/null 2>&1)
	check "on a terminal: redrawn in place (home and clear at least twice)" \
		[ "$(grep -o $'\e\\[H\e\\[2J' <<<"$tty" | wc -l)" -ge 2 ]
	check "the cursor hidden, then shown again at SIGTERM, exit 0" \
		grep -q $'\e\\[?25l' <<<"$tty" && grep -q $'\e\\[?25h' <<<"$tty" && grep -q "rc=0" <<<"$tty"
else
	pass "script(1) not installed: terminal mode not checked"
fi

out=$("$BIN" top --bogus 2>&1)
rc=$?
check "a bad option exits 2 with one line (rc $rc: $out)" [ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ]
out=$("$BIN" top --interval 0 2>&1)
rc=$?
check "a bad interval exits 2 with one line (rc $rc: $out)" [ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ]
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$("$BIN" top --once --redis "redis://127.0.0.1:$dead" 2>&1)
rc=$?
check "unreachable Redis: exit 1 with one line (rc $rc: $out)" \
	[ $rc = 1 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "cannot connect" <<<"$out"
out=$("$BIN" top --json --redis "redis://127.0.0.1:$dead" 2>/dev/null)
rc=$?
check "unreachable Redis with --json: exit 1, nothing on stdout (rc $rc)" [ $rc = 1 ] && [ -z "$out" ]

"$BIN" cancel t_slow >/dev/null 2>&1
finish
