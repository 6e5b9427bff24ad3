#!/usr/bin/env bash
# Integration test of the visibility commands (`reelbox list`, `retry`, `delete`, `fetch`)
# against a real redis-server on a private port and a real `reelbox worker` with a real
# sandbox:
#
#  a. list: jobs of every kind (succeeded, failed, running with progress, queued) are
#     listed newest first with state, attempts, worker, progress and error; --json is one
#     array whose objects have id and state; --state and --limit filter; a job whose
#     result expired is no longer listed; hostile input (a huge --limit, a state that is
#     none, arguments) is refused with a sentence and exit 2, and a hash a producer
#     filled with a huge error stays a short line, and escape sequences in it are dropped.
#  b. retry: a failed job runs again under its id (a retry event by request, attempts
#     from 0), a dead one too; a running, queued or succeeded job is refused (exit 1, the
#     running job carries on), an unknown one is exit 2, and so are ids with bad
#     characters.
#  c. delete: a finished job's status, events and index entry go; a running job is
#     refused and runs on; unknown and bad ids are exit 2; a job whose hash is deleted
#     by hand while it runs is not listed nor recreated, and the worker runs the next.
#  d. fetch: a succeeded job's video is copied (-o, or its own name here) and equals the
#     recorded file; a video changed after the job ended is refused (sha256 mismatch,
#     nothing written); a symlink in its place is not followed; a path this machine
#     cannot read is named with its worker; a failed, unknown or badly named job is refused.
#  e. logs: `logs -f` follows a running job's stderr line by line while it runs and ends
#     with the job; `logs` after the end prints the same lines, escape sequences a script
#     wrote gone; a script that floods stderr gets at most about 1 MiB shipped and a line
#     saying where it stops (the worker's RSS stays flat); a failed job's lines; unknown
#     and bad ids exit 2. The worker registry: the worker is in P:workers with its slots
#     while it runs and leaves it at SIGTERM.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_IT_KEEP=1 keeps the temp dir. Needs redis-server, redis-cli and python3.
# Prints one PASS/FAIL line per check and ends with "N passed, M failed"; exits 1 when a
# check failed. Bounded: about 15 s, 60 s at most.
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
both() { # both RC WANT PATTERN TEXT: the exit status is WANT and TEXT holds PATTERN
	[ "$1" = "$2" ] && grep -q -- "$3" <<<"$4"
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

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itj.XXXXXX")
MARK=itj$$
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
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_jobs: keeping $T"; else rm -rf "$T"; fi
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

# reelbox list --json | jq-like: jget JSON PYTHON-EXPR (d is the parsed document)
jget() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
status_field() { # status_field ID FIELD
	"$BIN" status --json "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}
wait_state() { # wait_state ID SECONDS STATE
	local i
	for i in $(seq $(($2 * 10))); do
		[ "$(status_field "$1" state)" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

S=$T/scripts
cat >"$S/${MARK}_ok.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr '\000' '\200'
EOF
cat >"$S/${MARK}_fail.sh" <<'EOF'
#!/bin/sh
echo "boom: this script always fails" >&2
exit 3
EOF
cat >"$S/${MARK}_talk.sh" <<'EOF'
#!/bin/sh
# A numbered line on stderr with each frame (a colour escape in it), a frame every 0.15 s.
i=0
while [ "$i" -lt "$FRAMES" ]; do
	printf 'line %d \033[31mred\033[0m\n' "$i" >&2
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero
	sleep 0.15
	i=$((i + 1))
done
echo "last line" >&2
EOF
cat >"$S/${MARK}_flood.sh" <<'EOF'
#!/bin/sh
# 8 MiB of stderr in 100-byte lines, then one frame.
yes "$(head -c 99 /dev/zero | tr '\000' 'f')" | head -c 8388608 >&2
head -c $((WIDTH * HEIGHT * 3)) /dev/zero
EOF
cat >"$S/${MARK}_slow.sh" <<'EOF'
#!/bin/sh
# A frame every 0.2 s: running long enough to be seen (cancelled at the end).
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

"$BIN" worker --concurrency 2 --output-dir "$OUT" --config "$REELBOX_CONFIG" 2>"$T/worker.log" &
WORKER_PID=$!

# ==== a. list ===========================================================================
echo "== a. list"
out=$("$BIN" list 2>&1)
check "list on an empty queue says so (exit 0: $out)" grep -q "no jobs" <<<"$out"
sub j_ok "${MARK}_ok.sh"
sub j_fail "${MARK}_fail.sh"
wait_state j_ok 20 succeeded && wait_state j_fail 20 failed
check "a job succeeded and one failed" [ "$(status_field j_fail state)" = failed ]
sub j_slow "${MARK}_slow.sh" 300
wait_state j_slow 20 running
sleep 1.5 # some progress
sub j_queued "${MARK}_ok.sh"

js=$("$BIN" list --json)
check "list --json is an array of 4 objects with id and state" \
	[ "$(jget "$js" 'len(d) == 4 and all("id" in o and "state" in o for o in d)')" = True ]
check "newest first: j_queued j_slow j_fail j_ok" \
	[ "$(jget "$js" '" ".join(o["id"] for o in d)')" = "j_queued j_slow j_fail j_ok" ]
check "the running job shows its worker, attempt and progress" \
	[ "$(jget "$js" 'd[1]["state"] == "running" and d[1]["attempts"] == 1 and d[1]["worker"] != "" and d[1]["progress"]["frames"] > 0 and d[1]["progress"]["total"] == 300')" = True ]
check "the failed job shows its error" \
	[ "$(jget "$js" 'd[2]["state"] == "failed" and len(d[2]["error"]) > 0')" = True ]
check "ages are on Redis's clock and small" [ "$(jget "$js" 'all(0 <= o["age_ms"] < 60000 for o in d)')" = True ]
txt=$("$BIN" list)
check "the table has a header and one line a job" [ "$(wc -l <<<"$txt")" -eq 5 ]
check "the table shows the running job's percentage" grep -Eq '^j_slow +running .* [0-9]+%' <<<"$txt"
check "--state failed lists only j_fail" [ "$(jget "$("$BIN" list --json --state failed)" '",".join(o["id"] for o in d)')" = j_fail ]
check "--limit 2 lists the 2 newest" [ "$(jget "$("$BIN" list --json --limit 2)" '",".join(o["id"] for o in d)')" = j_queued,j_slow ]

out=$("$BIN" list --limit 99999999999999999999 2>&1)
rc=$?
check "a huge --limit is refused with a sentence (rc $rc: $out)" both $rc 2 "1 to 1000" "$out"
out=$("$BIN" list --limit -1 2>&1)
check "a negative --limit is refused" [ $? = 2 ]
out=$("$BIN" list --state "../x';--" 2>&1)
rc=$?
check "a state that is none is refused (rc $rc: $out)" both $rc 2 "not a job state" "$out"
"$BIN" list j_ok >/dev/null 2>&1
check "list takes no arguments" [ $? = 2 ]

"${RCLI[@]}" hset reelbox:job:j_ok error "$(head -c 100000 /dev/zero | tr '\0' e)" >/dev/null
line=$("$BIN" list | grep '^j_ok')
check "a 100 kB error a producer wrote stays a short line (${#line} bytes)" [ "${#line}" -lt 300 ]
"${RCLI[@]}" hset reelbox:job:j_ok error $'boom \033]0;owned\007 \033[2J gone' worker $'w\033[31mred' >/dev/null
line=$("$BIN" list | grep '^j_ok')
check "escape sequences a producer wrote in error and worker do not reach the terminal ($line)" \
	eval '! grep -q $'"'"'[\033\007]'"'"' <<<"$line" && grep -q "boom" <<<"$line"'
"${RCLI[@]}" del reelbox:job:j_ok >/dev/null
check "a job whose result expired is no longer listed" \
	[ "$(jget "$("$BIN" list --json)" '",".join(o["id"] for o in d)')" = j_queued,j_slow,j_fail ]
check "and left the index" [ -z "$("${RCLI[@]}" zscore reelbox:jobs:recent j_ok)" ]

# ==== b. retry ==========================================================================
echo "== b. retry"
fin1=$(status_field j_fail finished)
out=$("$BIN" retry j_fail 2>&1)
rc=$?
check "retry of a failed job: back in the queue (rc $rc: $out)" [ $rc = 0 ]
ev=$(timeout 5 "${RCLI[@]}" xrevrange reelbox:job:j_fail:events + - count 5 | grep -c '"by":"request"')
check "a retry event by request is recorded" [ "$ev" -ge 1 ]
wait_state j_fail 20 failed
check "it ran again: failed again with attempts 1 and a new finish time" \
	[ "$(status_field j_fail attempts)" = 1 ] && [ "$(status_field j_fail finished)" -gt "$fin1" ]
out=$("$BIN" retry j_slow 2>&1)
rc=$?
check "retry of a running job is refused (rc $rc: $out)" both $rc 1 "is running" "$out"
st=$(status_field j_slow state)
check "and the running job carries on ($st $(status_field j_slow error))" [ "$st" = running ]
out=$("$BIN" retry j_queued 2>&1)
rc=$?
if [ "$(status_field j_queued state)" = succeeded ]; then want=succeeded; else want=queued; fi
check "retry of a $want job is refused (rc $rc: $out)" both $rc 1 "$want" "$out"
out=$("$BIN" retry nosuchjob 2>&1)
rc=$?
check "retry of an unknown job: exit 2 (rc $rc: $out)" both $rc 2 "no job nosuchjob" "$out"
bad=0
for id in '../x' 'a b' '$(id)' "$(head -c 100 /dev/zero | tr '\0' a)" '' 'j;rm' $'j\nx'; do
	"$BIN" retry "$id" >/dev/null 2>&1
	[ $? = 2 ] || bad=$((bad + 1))
done
check "ids with bad characters are refused with exit 2 ($bad not)" [ $bad = 0 ]
# A dead job: a malformed document XADDed by hand is dead-lettered at once.
"${RCLI[@]}" xadd reelbox:jobs '*' id j_dead job '{"id":"j_dead","script":"x","bogus_field":1}' >/dev/null
"${RCLI[@]}" lpush reelbox:jobs:wake 1 >/dev/null
wait_state j_dead 20 dead
out=$("$BIN" retry j_dead 2>&1)
rc=$?
check "retry of a dead job: back in the queue (rc $rc: $out)" [ $rc = 0 ]
wait_state j_dead 20 dead
check "and, still malformed, dead again with its reason" grep -q "bogus_field" <<<"$(status_field j_dead error)"


# ==== c. delete =========================================================================
echo "== c. delete"
wait_state j_queued 20 succeeded
out=$("$BIN" delete j_queued 2>&1)
rc=$?
check "delete of a finished job (rc $rc: $out)" both $rc 0 "deleted (it was succeeded)" "$out"
"$BIN" status j_queued >/dev/null 2>&1
check "its status is gone (exit 2)" [ $? = 2 ]
check "its events and index entry are gone" \
	[ "$("${RCLI[@]}" exists reelbox:job:j_queued:events)" = 0 ] && [ -z "$("${RCLI[@]}" zscore reelbox:jobs:recent j_queued)" ]
out=$("$BIN" delete j_slow 2>&1)
rc=$?
check "delete of a running job is refused (rc $rc: $out)" both $rc 1 "cancel it first" "$out"
check "and it runs on" [ "$(status_field j_slow state)" = running ]
out=$("$BIN" delete nosuchjob 2>&1)
rc=$?
check "delete of an unknown job: exit 2 (rc $rc)" [ $rc = 2 ]
bad=0
for id in '../x' 'a b' '*' "$(head -c 64 /dev/zero | tr '\0' a)"; do
	"$BIN" delete "$id" >/dev/null 2>&1
	[ $? = 2 ] || bad=$((bad + 1))
done
check "delete refuses ids with bad characters ($bad not)" [ $bad = 0 ]
# A job whose hash vanishes while it runs (a DEL by hand): the worker records nothing
# for it, stays up, and runs the next job.
sub j_gone "${MARK}_slow.sh" 15
wait_state j_gone 20 running
"${RCLI[@]}" del reelbox:job:j_gone >/dev/null
sleep 4
check "a job deleted while running is not listed" \
	[ "$(jget "$("$BIN" list --json)" '"j_gone" in [o["id"] for o in d]')" = False ]
sub j_after "${MARK}_ok.sh"
wait_state j_after 20 succeeded
check "the worker carried on: the next job succeeded" [ "$(status_field j_after state)" = succeeded ]
check "and the deleted job was not recreated" [ "$("${RCLI[@]}" hget reelbox:job:j_gone state)" = "" ]
"$BIN" cancel j_slow >/dev/null 2>&1
out=$("$BIN" delete j_slow 2>&1)
check "a cancelled job can be deleted ($out)" grep -q "deleted (it was cancelled)" <<<"$out"

# ==== d. fetch ==========================================================================
echo "== d. fetch"
sub j_vid "${MARK}_ok.sh"
wait_state j_vid 20 succeeded
vid=$(status_field j_vid output)
mkdir -p "$T/dl"
out=$("$BIN" fetch j_vid -o "$T/dl/got.mp4" 2>&1)
rc=$?
check "fetch -o copies a finished job's video (rc $rc: $out)" [ $rc = 0 ]
check "the copy is the recorded file" cmp -s "$vid" "$T/dl/got.mp4"
out=$(cd "$T/dl" && "$BIN" fetch j_vid 2>&1)
check "without -o it is written here as ID.EXT ($out)" cmp -s "$vid" "$T/dl/j_vid.mp4"
printf 'x' >>"$vid"
out=$("$BIN" fetch j_vid -o "$T/dl/tampered.mp4" 2>&1)
rc=$?
check "a video changed after the job ended is refused (rc $rc: $out)" both $rc 1 "does not match the sha256" "$out"
check "and nothing was written (no file, no partial)" [ -z "$(ls "$T/dl" | grep -e tampered)" ]
mv "$vid" "$vid.orig" && ln -s /etc/passwd "$vid"
out=$("$BIN" fetch j_vid -o "$T/dl/link.mp4" 2>&1)
rc=$?
check "a symlink put in the video's place is not followed (rc $rc: $out)" both $rc 1 "is now a symbolic link" "$out"
check "and nothing was written" [ ! -e "$T/dl/link.mp4" ]
"${RCLI[@]}" hset reelbox:job:j_vid output /nonexistent/out/j_vid.mp4 >/dev/null
out=$("$BIN" fetch j_vid -o "$T/dl/far.mp4" 2>&1)
rc=$?
check "a video this machine cannot read: says where it is (rc $rc: $out)" both $rc 1 "is on worker .* at /nonexistent/out/j_vid.mp4" "$out"
out=$("$BIN" fetch j_fail 2>&1)
rc=$?
check "fetch of a failed job is refused (rc $rc: $out)" both $rc 1 "only a succeeded job" "$out"
"$BIN" fetch nosuchjob >/dev/null 2>&1
check "fetch of an unknown job: exit 2" [ $? = 2 ]
"$BIN" fetch '../../etc/passwd' >/dev/null 2>&1
check "fetch refuses an id with bad characters" [ $? = 2 ]


# ==== e. logs and the worker registry ================================================
echo "== e. logs"
sub j_talk "${MARK}_talk.sh" 20
wait_state j_talk 10 running
"$BIN" logs -f j_talk >"$T/follow.out" 2>"$T/follow.err" &
FOLLOW=$!
sleep 1
mid=$(wc -l <"$T/follow.out")
check "logs -f shows lines while the job runs ($mid lines after 1 s, job $(status_field j_talk state))" \
	[ "$mid" -ge 2 -a "$mid" -lt 21 -a "$(status_field j_talk state)" = running ]
for _ in $(seq 100); do kill -0 $FOLLOW 2>/dev/null || break; sleep 0.1; done
check "logs -f ends by itself when the job ends" eval '! kill -0 $FOLLOW 2>/dev/null'
wait $FOLLOW
rc=$?
check "logs -f exits 0 (rc $rc: $(head -c 200 "$T/follow.err"))" [ $rc = 0 ]
check "it printed every line in order, the last one too" \
	[ "$(cat "$T/follow.out")" = "$(for i in $(seq 0 19); do echo "line $i red"; done; echo "last line")" ]
check "the script's escape sequences did not reach the terminal" eval '! grep -q $'"'"'\033'"'"' "$T/follow.out"'
out=$("$BIN" logs j_talk 2>&1)
check "logs after the end prints the same lines" [ "$out" = "$(cat "$T/follow.out")" ]
check "the log stream expires with the result" [ "$("${RCLI[@]}" ttl reelbox:job:j_talk:log)" -gt 500 ]

rss0=$(awk '/VmRSS/ { print $2 }' /proc/$WORKER_PID/status)
sub j_flood "${MARK}_flood.sh" 1
wait_state j_flood 30 succeeded
rss1=$(awk '/VmRSS/ { print $2 }' /proc/$WORKER_PID/status)
bytes=$("$BIN" logs j_flood 2>/dev/null | wc -c)
check "a flood of 8 MiB on stderr: about 1 MiB shipped ($bytes bytes)" [ "$bytes" -ge 900000 -a "$bytes" -le 1200000 ]
check "and a line says where the stream stops" grep -q "the log stream stops here" <<<"$("$BIN" logs j_flood 2>/dev/null | tail -1)"
check "the worker's RSS stayed flat (${rss0} kB -> ${rss1} kB)" [ $((rss1 - rss0)) -lt 20000 ]
out=$("$BIN" logs j_fail 2>&1)
check "a failed job's log has its lines ($out)" grep -q "boom: this script always fails" <<<"$out"
"$BIN" logs nosuchjob >/dev/null 2>&1
check "logs of an unknown job: exit 2" [ $? = 2 ]
"$BIN" logs '../x' >/dev/null 2>&1
check "logs refuses an id with bad characters: exit 2" [ $? = 2 ]
"$BIN" logs --bogus j_talk >/dev/null 2>&1
check "logs refuses an unknown option: exit 2" [ $? = 2 ]

reg=$("${RCLI[@]}" hvals reelbox:workers)
check "the worker is in the registry with its slots and pid ($reg)" \
	[ "$(jget "$reg" "d['slots'], d['pid']")" = "(2, $WORKER_PID)" ]
kill -TERM $WORKER_PID
for _ in $(seq 100); do kill -0 $WORKER_PID 2>/dev/null || break; sleep 0.1; done
check "and leaves it when it stops (SIGTERM)" [ "$("${RCLI[@]}" hlen reelbox:workers)" = 0 ]
WORKER_PID=

finish
