#!/usr/bin/env bash
# Integration test of the Redis queue and `reelbox worker`, against a real redis-server
# on a private port (append-only file, fsync always, in a temp dir):
#
#  a. 200 tiny jobs through three workers of concurrency 2 (lease 3 s) while one worker
#     is SIGKILLed mid-job (and replaced), Redis is SIGKILLed and restarted from its
#     append-only file, and one worker is stopped with SIGTERM (it must exit 0). Every
#     job must end succeeded exactly once (one `done` event, state succeeded, one
#     accepted completion in the workers' logs), with one valid recorded output
#     <id>.<token>.mp4 and the link <id>.mp4 pointing at it.
#  b. a failing script ends failed with its error; a job asking for retries is re-run;
#     a poison job (its workers keep dying) ends dead after max_attempts and is
#     dead-lettered; malformed entries pushed with raw redis-cli XADD are dead-lettered
#     while the worker carries on; cancel ends a running job `cancelled` at once (its
#     worker confirms the stop); a script that never ends fails at its --timeout.
#  c. examples/producer.py gets its video.
#  d. `submit --wait` exits 0/1; `status --json` shows state, attempts, progress.
#  e. Redis memory stays bounded: results expire (result_ttl 5 s), the jobs stream is
#     empty, DBSIZE is small.
#  f. a 64 MB job document XADDed straight into the stream (IT_QUEUE_HUGE_MB) is
#     dead-lettered inside Redis: the job ends dead with the size in its error, the
#     worker's peak RSS (VmHWM) stays under 64 MB, and it takes the next job.
# and at the end: no partial files in the output dir, no work dirs of dead workers
# after a final worker start, no scratch dirs in the state dir, no cgroups and no
# sandbox processes left.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_IT_KEEP=1 keeps the temp dir. Needs redis-server, redis-cli, ffprobe and a
# python3 with redis-py (Debian: python3-redis). Prints one PASS/FAIL line per check and
# ends with "N passed, M failed"; exits 1 when a check failed. Bounded: about 2-3
# minutes on 2 cores, 6 at most.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-.}
BIN=${REELBOX_BIN:-build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

N_JOBS=${IT_QUEUE_JOBS:-200}
LEASE=3
GRACE=5
TTL=5
T_START=$SECONDS
HARD_LIMIT=340 # seconds: past this, waits give up so the whole test stays under 6 min

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
res() { # COND; res DESCRIPTION: PASS when COND succeeded
	if [ $? -eq 0 ]; then pass "$1"; else fail "$1"; fi
}
none() { ! "$@"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
note() { printf '  .. %s\n' "$*"; }
left() { echo $((HARD_LIMIT - (SECONDS - T_START))); }

for tool in redis-server redis-cli ffprobe timeout pgrep; do
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
if [ -z "$PY" ]; then
	fail "a python3 with redis-py (apt-get install python3-redis)"
	finish
fi
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itq.XXXXXX")
MARK=itq$$ # in every script name: /job/itq<pid>_*.sh marks our sandboxes
OUT=$T/out
LOGS=$T/logs
mkdir -p "$T/redis" "$T/state" "$T/scripts" "$LOGS"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$T/state
export REELBOX_CONFIG=$T/config.json
printf '{"result_ttl": %d}\n' "$TTL" >"$REELBOX_CONFIG"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")

REDIS_PID=
declare -A WPID=()  # worker name -> pid (live or not)
ALL_WPIDS=()        # every worker pid this test started
KILLED_WPIDS=()     # the ones SIGKILLed

cleanup() {
	local p
	exec 2>/dev/null # no "Killed" notices for the processes killed on purpose
	for p in "${ALL_WPIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null
	# Sandboxes that outlived their worker (see the checks): only ours, by pid.
	for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then
		echo "it_queue: keeping $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis() {
	redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --appendonly yes \
		--appendfsync always --save '' --protected-mode no --enable-debug-command local \
		--logfile "$T/redis/redis.log" \
		>/dev/null 2>&1 &
	REDIS_PID=$!
	local i
	for i in $(seq 100); do
		[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	return 1
}

# start_worker NAME: a worker of concurrency 2; its JSON-lines log in $LOGS/NAME.log.
start_worker() {
	"$BIN" worker --concurrency 2 --output-dir "$OUT" --lease "$LEASE" --grace "$GRACE" \
		--config "$REELBOX_CONFIG" 2>"$LOGS/$1.log" &
	WPID[$1]=$!
	ALL_WPIDS+=("$!")
}
alive() { kill -0 "$1" 2>/dev/null; }
# wait_exit PID SECONDS: the exit status of a child, or 255 when it did not end in time.
wait_exit() {
	local i
	for i in $(seq $(($2 * 10))); do
		if ! alive "$1"; then
			wait "$1"
			return $?
		fi
		sleep 0.1
	done
	return 255
}
descendants() { # every process below pid $1
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END { for (p in parent) { q = p; while (q in parent && q != 1) { q = parent[q]; if (q == root) { print p; break } } } }'
}
status_field() { # status_field ID FIELD: from `reelbox status --json`
	"$BIN" status --json "$1" 2>/dev/null | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else d)' "$2" 2>/dev/null
}
# wait_state ID SECONDS STATE...: until the job is in one of the states.
wait_state() {
	local id=$1 secs=$2 i st
	shift 2
	for i in $(seq $((secs * 5))); do
		st=$(status_field "$id" state)
		for s in "$@"; do [ "$st" = "$s" ] && return 0; done
		sleep 0.2
	done
	return 1
}
pid_of_consumer() { # host-pid-random -> pid
	local c=${1%-*}
	echo "${c##*-}"
}
# probe FILE FRAMES: an H.264 64x48 video with FRAMES decoded frames.
probe() {
	local got
	got=$(ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$1" 2>/dev/null)
	[ "$got" = "h264,64,48,$2" ]
}

# ---- scripts --------------------------------------------------------------------------
S=$T/scripts
cat >"$S/${MARK}_fast.sh" <<'EOF'
#!/bin/sh
# FRAMES raw rgb24 frames of one grey, at once.
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr '\000' '\200'
EOF
cat >"$S/${MARK}_spin.py" <<'EOF'
# CPU-heavy for 8 s (more than twice the lease), then frames that are slow to encode.
import os, sys, time
t = time.time()
while time.time() - t < 8:
    pass
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes((x * 7 + i * 13) & 255 for x in range(w * 3)) * h)
EOF
cat >"$S/${MARK}_slow.sh" <<'EOF'
#!/bin/sh
# About a second of work: a frame every 0.15 s.
i=0
while [ "$i" -lt "$FRAMES" ]; do
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero
	sleep 0.15
	i=$((i + 1))
done
EOF
cat >"$S/${MARK}_grad.py" <<'EOF'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes(((x * 4 + i * 16) & 255) for x in range(w)) * 3 * h)
EOF
cat >"$S/${MARK}_fail.sh" <<EOF
#!/bin/sh
echo "boom-$MARK: this script always fails" >&2
exit 3
EOF
cat >"$S/${MARK}_sleep.sh" <<'EOF'
#!/bin/sh
# One frame, then a minute of nothing.
echo "started" >&2
head -c $((WIDTH * HEIGHT * 3)) /dev/zero
sleep 60
EOF
cp "$S/${MARK}_sleep.sh" "$S/${MARK}_poison.sh"
cat >"$S/${MARK}_late.sh" <<'EOF'
#!/bin/sh
# Two seconds of nothing, then all frames at once.
sleep 2
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero
EOF
cat >"$S/${MARK}_forever.sh" <<'EOF'
#!/bin/sh
while :; do sleep 1; done
EOF

if ! start_redis; then
	fail "redis-server starts on 127.0.0.1:$PORT"
	finish
fi
note "redis-server on port $PORT, work dir $T"

# ==== a. 200 jobs through faults ========================================================
echo "== a. $N_JOBS jobs, 3 workers x 2, SIGKILL a worker, SIGKILL Redis, SIGTERM a worker"
: >"$T/ids"
declare -A FRAMES_OF=()
for i in $(seq -w 1 "$N_JOBS"); do
	n=$((5 + 10#$i % 6))
	case $((10#$i % 4)) in
	0) s=${MARK}_slow.sh ;;
	1) s=${MARK}_grad.py ;;
	*) s=${MARK}_fast.sh ;;
	esac
	echo "$MARK-a$i $n $s" >>"$T/ids"
	FRAMES_OF[$MARK-a$i]=$n
done
# The follower: XREAD BLOCK on every job's events stream, survives the Redis restart,
# records each job's done events and its hash right after (before the 5 s TTL).
cat >"$T/follow.py" <<'EOF'
import json, sys, time, redis
url, idsfile, outfile, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ids = [l.split()[0] for l in open(idsfile) if l.strip()]
r = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
cur = {"reelbox:job:%s:events" % i: "0" for i in ids}
info = {i: {"done": 0, "running": 0, "retry": 0, "states": [], "hash": None} for i in ids}
need_hash, left, errors = set(), set(ids), 0
end = time.monotonic() + limit
tail_until = None
while time.monotonic() < end:
    if not left and not need_hash:
        # All done: read on for 1.5 s more to catch a second `done`, then stop.
        tail_until = tail_until or time.monotonic() + 1.5
        if time.monotonic() > tail_until:
            break
    try:
        for i in list(need_hash):
            h = r.hgetall("reelbox:job:%s" % i)
            info[i]["hash"] = {k.decode(): v.decode("utf-8", "replace") for k, v in h.items()}
            need_hash.discard(i)
        rep = r.xread(cur, count=200, block=500)
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        errors += 1
        time.sleep(0.2)
        continue
    for stream, entries in rep or []:
        key = stream.decode()
        i = key.split(":")[2]
        for eid, f in entries:
            cur[key] = eid.decode()
            d = json.loads(f[b"data"])
            t = d.get("type")
            if t in ("running", "retry"):
                info[i][t] += 1
            elif t == "done":
                info[i]["done"] += 1
                info[i]["states"].append(d.get("state"))
                need_hash.add(i)
                left.discard(i)
json.dump({"jobs": info, "left": sorted(left), "reconnects": errors}, open(outfile, "w"))
EOF
"$PY" "$T/follow.py" "$REELBOX_REDIS_URL" "$T/ids" "$T/follow.json" 240 2>"$LOGS/follow.err" &
FOLLOW_PID=$!

t_submit=$SECONDS
# Four submitters at once: each `reelbox submit` costs ~0.1 s, mostly loading libraries.
export BIN S
awk '{ print $1, $2, $3 }' "$T/ids" | xargs -P 4 -n 3 sh -c \
	'"$BIN" submit --id "$0" --size 64x48 --fps 10 --frames "$1" "$S/$2" >/dev/null || echo "$0"' \
	>"$T/submit-failed" 2>>"$LOGS/submit.err"
check "$N_JOBS jobs submitted with reelbox submit ($((SECONDS - t_submit)) s)" [ ! -s "$T/submit-failed" ]

start_worker A
start_worker B
start_worker C
t_run=$SECONDS

# SIGKILL worker A while it holds a job.
running_in() { # jobs started minus jobs finished/abandoned in a worker's log
	local st fin
	st=$(grep -c '"event":"job_started"' "$LOGS/$1.log")
	fin=$(grep -c -E '"event":"(job_finished|job_abandoned)"' "$LOGS/$1.log")
	echo $((st - fin))
}
held_in_redis() { # jobs Redis has running under a consumer name
	"$PY" - "$REELBOX_REDIS_URL" "$1" <<'EOF'
import sys, redis
r = redis.Redis.from_url(sys.argv[1], socket_timeout=5)
keys = [k for k in r.scan_iter("reelbox:job:*", count=1000) if k.count(b":") == 2]
p = r.pipeline(transaction=False)
for k in keys:
    p.hmget(k, "state", "worker")
print(sum(1 for st, w in p.execute() if st == b"running" and w == sys.argv[2].encode()))
EOF
}
consumer_of() { # the consumer name a worker logged at its start
	grep -m1 '"event":"worker_started"' "$LOGS/$1.log" 2>/dev/null |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["consumer"])' 2>/dev/null
}
# Its jobs are short: between seeing one run and the kill, it may finish. So freeze the
# worker (SIGSTOP: nothing it holds can be completed), ask Redis what it holds, and
# kill it only while Redis has a job running under its name; else let it go on and
# look again, until a deadline.
held=0
a_consumer=
t_hold=$((SECONDS + 60))
while [ "$SECONDS" -lt "$t_hold" ]; do
	[ -n "$a_consumer" ] || a_consumer=$(consumer_of A)
	if [ -n "$a_consumer" ] && [ "$(grep -c '"event":"job_started"' "$LOGS/A.log")" -ge 3 ] &&
		[ "$(running_in A)" -ge 1 ]; then
		kill -STOP "${WPID[A]}"
		held=$(held_in_redis "$a_consumer")
		[ "${held:-0}" -ge 1 ] && break
		kill -CONT "${WPID[A]}"
	fi
	sleep 0.05
done
a_desc=$(descendants "${WPID[A]}" | tr '\n' ' ')
kill -9 "${WPID[A]}"
wait "${WPID[A]}" 2>/dev/null
KILLED_WPIDS+=("${WPID[A]}")
check "worker A SIGKILLed mid-job (Redis had ${held:-0} job(s) running under $a_consumer, t=$((SECONDS - t_run)) s)" [ "${held:-0}" -ge 1 ]
start_worker A2
cg_seen=$(find /sys/fs/cgroup -maxdepth 8 -type d -name "rbx-${WPID[C]}-*" 2>/dev/null | head -1)
note "job cgroups in use on this host: ${cg_seen:-none seen (the cgroup checks below are vacuous)}"
sleep 2
still=
for p in $a_desc; do alive "$p" && still="$still $p"; done
check "no sandbox process of the SIGKILLed worker A left 2 s later${still:+ (alive:$still)}" [ -z "$still" ]

# SIGKILL Redis, restart it from its append-only file on the same port and dir.
sleep 1
keys_before=$("${RCLI[@]}" dbsize 2>/dev/null)
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
sleep 1
if start_redis; then
	pass "Redis SIGKILLed (DBSIZE $keys_before) and restarted (DBSIZE $("${RCLI[@]}" dbsize)) at t=$((SECONDS - t_run)) s"
else
	fail "Redis restarts from its append-only file"
fi
check "Redis loaded its append-only file" grep -q -i "append only file" "$T/redis/redis.log"

# SIGTERM worker B: it stops taking jobs, finishes or hands back, exits 0.
sleep 2
t_term=$SECONDS
kill -TERM "${WPID[B]}"
wait_exit "${WPID[B]}" $((GRACE + 20))
rc=$?
check "worker B exits 0 after SIGTERM (rc $rc, $((SECONDS - t_term)) s)" [ "$rc" -eq 0 ]

# Wait (bounded) for all jobs to end.
note "waiting for the follower (all $N_JOBS jobs done)"
wait_exit "$FOLLOW_PID" "$(left)"
frc=$?
t_all=$((SECONDS - t_run))
[ "$frc" -eq 0 ] && [ -s "$T/follow.json" ]
res "follower saw every job end (rc $frc, ${t_all} s after the workers started)"
[ -s "$T/follow.json" ] || echo '{"jobs":{},"left":[],"reconnects":0}' >"$T/follow.json"

# Exactly once: one done event, state succeeded (event and hash), and at most one
# completion acknowledged by Redis over all worker logs (job_recorded). At most, not
# exactly: a worker SIGKILLed after Redis applied its completion never logs it; the
# done event and the hash are the record of that. A job may RUN twice (at-least-once
# delivery, a worker killed mid-job), never end twice.
cat "$LOGS"/*.log >"$T/all-logs"
"$PY" - "$T/follow.json" "$T/ids" "$T/all-logs" >"$T/once.txt" <<'EOF'
import json, sys, collections
f = json.load(open(sys.argv[1]))
ids = [l.split()[0] for l in open(sys.argv[2]) if l.strip()]
ok_fin, recorded_n = collections.Counter(), collections.Counter()
for line in open(sys.argv[3], errors="replace"):
    if not line.startswith("{"):
        continue
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "job_finished" and e.get("status") == "succeeded":
        ok_fin[e.get("job")] += 1
    elif e.get("event") == "job_recorded":
        recorded_n[e.get("job")] += 1
bad_done, bad_state, bad_acc, reruns, att = [], [], [], 0, collections.Counter()
for i in ids:
    j = f["jobs"].get(i, {"done": 0, "states": [], "hash": None, "running": 0})
    h = j.get("hash") or {}
    if j["done"] != 1:
        bad_done.append("%s:%d" % (i, j["done"]))
    if j["states"] != ["succeeded"] or h.get("state") != "succeeded":
        bad_state.append("%s:%s/%s" % (i, j["states"], h.get("state")))
    recorded = recorded_n[i]
    if recorded > 1:
        bad_acc.append("%s:finished %d, recorded %d" % (i, ok_fin[i], recorded))
    if ok_fin[i] > 1 or j.get("running", 0) > 1:
        reruns += 1
    att[h.get("attempts", "?")] += 1
print("done", len(bad_done), " ".join(bad_done[:8]))
print("state", len(bad_state), " ".join(bad_state[:8]))
print("accepted", len(bad_acc), " ".join(bad_acc[:8]))
print("info", "reruns=%d attempts=%s reconnects=%s" % (reruns, dict(att), f.get("reconnects")))
EOF
line() { awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2) }' "$T/once.txt"; }
cnt() { line "$1" | awk '{ print $1 }'; }
note "$(line info)"
check "every job has exactly one done event $(line done | cut -c1-200)" [ "$(cnt done)" = 0 ]
check "every job ended succeeded (event and hash) $(line state | cut -c1-200)" [ "$(cnt state)" = 0 ]
check "no job's success was recorded twice (worker logs) $(line accepted | cut -c1-200)" [ "$(cnt accepted)" = 0 ]

# Outputs: for each job its recorded file <id>.<token>.mp4 (the hash's output) and the
# stable name <id>.mp4 pointing at it, each with its poster (.jpg); nothing else but
# .work, no unrecorded render.
bad_files=$(ls -A "$OUT" | grep -v -x -E "${MARK}-a[0-9]+(\.[0-9]+-[0-9a-f]{16})?\.(mp4|jpg)|\.work" | head -5 | tr '\n' ' ')
n_links=$(find "$OUT" -maxdepth 1 -type l -regex ".*/${MARK}-a[0-9]+\.mp4" | wc -l)
n_files=$(find "$OUT" -maxdepth 1 -type f -regex ".*/${MARK}-a[0-9]+\.[0-9]+-[0-9a-f]+\.mp4" | wc -l)
[ "$n_links" -eq "$N_JOBS" ] && [ "$n_files" -eq "$N_JOBS" ] && [ -z "$bad_files" ]
res "output dir holds $N_JOBS recorded <id>.<token>.mp4 and $N_JOBS <id>.mp4 links, nothing else (got $n_files, $n_links${bad_files:+; extra: $bad_files})"
"$PY" - "$T/follow.json" "$T/ids" "$OUT" >"$T/links.txt" <<'EOF'
import json, os, sys
f = json.load(open(sys.argv[1]))
bad = []
for line in open(sys.argv[2]):
    i = line.split()[0]
    out = ((f["jobs"].get(i) or {}).get("hash") or {}).get("output", "")
    link = os.path.join(sys.argv[3], i + ".mp4")
    if not out or os.path.realpath(link) != out or not os.path.isfile(out):
        bad.append("%s->%s" % (i, os.path.realpath(link)))
print(len(bad), " ".join(bad[:5]))
EOF
check "every <id>.mp4 points at the output its job recorded ($(cat "$T/links.txt"))" [ "$(cut -d' ' -f1 "$T/links.txt")" = 0 ]
export -f probe
bad_probe=$(while read -r id n _; do echo "$OUT/$id.mp4 $n"; done <"$T/ids" |
	xargs -P 2 -n 2 bash -c 'probe "$0" "$1" || echo "$(basename "$0")"' | head -5 | tr '\n' ' ')
check "every output is H.264 64x48 with its frame count (ffprobe)${bad_probe:+: bad $bad_probe}" [ -z "$bad_probe" ]

# ==== e. memory stays bounded ===========================================================
echo "== e. Redis memory"
sleep $((TTL + 2))
dbsize=$("${RCLI[@]}" dbsize)
jobkeys=$("${RCLI[@]}" --scan --pattern 'reelbox:job:*' | wc -l)
xlen=$("${RCLI[@]}" xlen reelbox:jobs)
pending=$("${RCLI[@]}" xpending reelbox:jobs workers | head -1)
note "keys: $("${RCLI[@]}" --scan | sort | tr '\n' ' ') used_memory $("${RCLI[@]}" info memory | tr -d '\r' | awk -F: '$1 == "used_memory_human" { print $2 }')"
check "results expired after result_ttl $TTL s (job keys left: $jobkeys)" [ "$jobkeys" -eq 0 ]
check "DBSIZE is small after $N_JOBS jobs ($dbsize)" [ "$dbsize" -le 5 ]
[ "$xlen" -eq 0 ] && [ "$pending" -eq 0 ]
res "jobs stream is empty (XLEN $xlen, pending $pending)"

# ==== b. failures, poison, malformed, cancel, timeout ===================================
echo "== b. failures"
# (workers A2 and C are running)
out=$(timeout 60 "$BIN" submit --id "$MARK-fail" --size 64x48 --frames 5 "$S/${MARK}_fail.sh" --wait --json 2>/dev/null)
rc=$?
js=$(echo "$out" | head -1)
st=$(echo "$js" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("state"), "|", d.get("error"), "|", d.get("log","").strip())' 2>/dev/null)
[ "$rc" -eq 1 ] && [[ $st == "failed | "*"status 3"*"boom-$MARK"* ]]
res "a failing script ends failed with its error (submit --wait rc $rc: $st)"

out=$(timeout 60 "$BIN" submit --id "$MARK-retry" --retries 2 --size 64x48 --frames 5 "$S/${MARK}_fail.sh" --wait --json 2>/dev/null)
rc=$?
st=$(echo "$out" | head -1 | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("state"), d.get("attempts"), "|", d.get("error"))' 2>/dev/null)
[ "$rc" -eq 1 ] && [[ $st == "dead 3 | failed on all 3 attempts; last: script exited with status 3"* ]]
res "a failing job with --retries 2 runs 3 times, then ends dead with its error (rc $rc: $st)"
dl=$("${RCLI[@]}" xrevrange reelbox:dead + - count 50 | grep -c "$MARK-retry")
check "the job that failed all its retries is in the dead-letter stream ($dl)" [ "$dl" -ge 1 ]

# Poison: a job whose worker dies every time it runs it (simulated with SIGKILL).
# docs/queue.md: the claim past max_attempts (3) dead-letters it.
"$BIN" submit --id "$MARK-poison" --size 64x48 --frames 5 "$S/${MARK}_poison.sh" >/dev/null
poison_ok=1
poison_pids=
for k in 1 2 3; do
	got=
	for _ in $(seq 100); do
		if [ "$(status_field "$MARK-poison" state)" = running ] &&
			[ "$(status_field "$MARK-poison" attempts)" = "$k" ]; then
			got=1
			break
		fi
		sleep 0.2
	done
	[ -n "$got" ] || {
		poison_ok=0
		note "poison: attempt $k never started"
		break
	}
	sleep 0.5
	wp=$(pid_of_consumer "$(status_field "$MARK-poison" worker)")
	mine=0
	for p in "${ALL_WPIDS[@]}"; do [ "$p" = "$wp" ] && mine=1; done
	[ "$mine" = 1 ] || {
		poison_ok=0
		note "poison: held by unknown worker pid $wp"
		break
	}
	poison_pids="$poison_pids $(descendants "$wp" | tr '\n' ' ')"
	kill -9 "$wp"
	wait "$wp" 2>/dev/null
	KILLED_WPIDS+=("$wp")
	start_worker "P$k"
done
wait_state "$MARK-poison" 30 dead failed succeeded
pst=$(status_field "$MARK-poison" state)
perr=$(status_field "$MARK-poison" error)
[ "$poison_ok" = 1 ] && [ "$pst" = dead ] && [[ $perr == *"gave up after 3 attempts"* ]]
res "a poison job (its worker dies 3 times) ends dead (state $pst: $perr)"
dead_poison=$("${RCLI[@]}" xrange reelbox:dead - + | grep -c -x "$MARK-poison")
check "the poison job is in the dead-letter stream" [ "$dead_poison" -ge 1 ]
sleep 1
still=
for p in $poison_pids; do alive "$p" && still="$still $p:$(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | cut -c1-40)"; done
check "no sandbox process outlives its SIGKILLed worker${still:+ (alive:$still)}" [ -z "$still" ]

# Malformed entries, pushed by a raw Redis client.
live_before=
for name in "${!WPID[@]}"; do alive "${WPID[$name]}" && live_before="$live_before ${WPID[$name]}"; done
GOODDOC='{"script":"head -c 46080 /dev/zero\n","runtime":"sh","width":64,"height":48,"fps":10,"frames":5}'
"${RCLI[@]}" xadd reelbox:jobs '*' id "$MARK-badjson" job '{"script": "exit 0", "width": 64,' >/dev/null
"${RCLI[@]}" xadd reelbox:jobs '*' id "$MARK-badfield" job '{"script":"exit 0\n","runtime":"sh","width":64,"height":48,"colour":"red"}' >/dev/null
"${RCLI[@]}" xadd reelbox:jobs '*' id "$MARK-badrange" job '{"script":"exit 0\n","runtime":"sh","width":64,"height":48,"fps":1000}' >/dev/null
"${RCLI[@]}" xadd reelbox:jobs '*' id "../../etc/$MARK" job "$GOODDOC" >/dev/null
"${RCLI[@]}" xadd reelbox:jobs '*' job "${GOODDOC%\}},\"id\":\"../$MARK-docid\"}" >/dev/null
"$PY" -c 'import json, sys; print(json.dumps({"script": "#" * (1100 * 1024) + "\n", "runtime": "sh", "width": 64, "height": 48}), end="")' |
	"${RCLI[@]}" -x xadd reelbox:jobs '*' id "$MARK-badbig" job >/dev/null
t0=$SECONDS
out=$(timeout 60 "$BIN" submit --id "$MARK-after" --size 64x48 --frames 5 "$S/${MARK}_fast.sh" --wait 2>/dev/null)
rc=$?
[ "$rc" -eq 0 ] && [ -f "$OUT/$MARK-after.mp4" ]
res "a good job submitted after the malformed ones succeeds (rc $rc, $((SECONDS - t0)) s)"
sleep 1
"${RCLI[@]}" --raw xrange reelbox:dead - + >"$T/dead.txt"
"$PY" - "$REELBOX_REDIS_URL" >"$T/dead.json" <<'EOF'
import json, sys, redis
r = redis.Redis.from_url(sys.argv[1])
print(json.dumps([{k.decode(): v.decode("utf-8", "replace")[:300] for k, v in f.items()}
                  for _, f in r.xrange("reelbox:dead")]))
EOF
dead_reason() { # dead_reason PATTERN-IN-ID-OR-ERROR: the error of the matching dead letter
	"$PY" -c 'import json, sys
for d in json.load(open(sys.argv[1])):
    if sys.argv[2] in d.get("id", "") or sys.argv[2] in d.get("error", ""):
        print(d.get("error", "")); break' "$T/dead.json" "$1"
}
for what in badjson badfield badrange badbig; do
	reason=$(dead_reason "$MARK-$what")
	check "malformed job ($what) dead-lettered with a reason: ${reason:0:110}" [ -n "$reason" ]
done
reason=$(dead_reason "../../etc/$MARK")
check "job id '../../etc/$MARK' dead-lettered: ${reason:0:110}" [ -n "$reason" ]
reason=$(dead_reason "../$MARK-docid")
check "document id '../$MARK-docid' dead-lettered: ${reason:0:110}" [ -n "$reason" ]
escaped=$(ls -d "$OUT/../../etc/$MARK".* "$OUT/../$MARK-docid".* "$OUT/.work/../../etc/$MARK".* 2>/dev/null | head -3)
check "no file escaped the output dir${escaped:+: $escaped}" [ -z "$escaped" ]
gone=
for p in $live_before; do alive "$p" || gone="$gone $p"; done
[ -n "$live_before" ] && [ -z "$gone" ]
res "workers carried on after the malformed jobs (alive:$live_before${gone:+; gone:$gone})"

# Cancel a running job.
"$BIN" submit --id "$MARK-cancel" --size 64x48 --frames 5 "$S/${MARK}_sleep.sh" >/dev/null
if wait_state "$MARK-cancel" 20 running; then
	sleep 1
	js=$("$BIN" status --json "$MARK-cancel")
	st=$(echo "$js" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("state"), d.get("attempts"), json.dumps(d.get("progress")))' 2>/dev/null)
	[[ $st == "running 1 "*'"frames": 1'*'"total": 5'* ]]
	res "status --json of a running job shows state, attempts, progress ($st)"
	t0=$SECONDS
	ans=$("$BIN" cancel "$MARK-cancel")
	st=$(status_field "$MARK-cancel" state)
	err=$(status_field "$MARK-cancel" error)
	[ "$st" = cancelled ] && [[ $ans == *"stopped it"* ]] && [ $((SECONDS - t0)) -lt 5 ]
	res "cancel ($ans) ends a running job: $st after $((SECONDS - t0)) s: $err"
	sleep 0.5
	check "the cancelled job's sandbox is gone" none pgrep -f "/job/${MARK}_sleep" >/dev/null
else
	fail "the job to cancel started running"
fi

# A script that never ends fails at its timeout.
t0=$SECONDS
out=$(timeout 60 "$BIN" submit --id "$MARK-forever" --timeout 2 --size 64x48 --frames 5 "$S/${MARK}_forever.sh" --wait --json 2>/dev/null)
rc=$?
st=$(echo "$out" | head -1 | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("state"), "|", d.get("error"))' 2>/dev/null)
[ "$rc" -eq 1 ] && [[ ${st,,} == failed*time* ]] && [ $((SECONDS - t0)) -lt 15 ]
res "a script that never ends fails at --timeout 2 (rc $rc after $((SECONDS - t0)) s: $st)"

# ==== c. the producer example ===========================================================
echo "== c. examples/producer.py"
out=$(timeout 60 "$PY" "$SRC/examples/producer.py" --redis "$REELBOX_REDIS_URL" "$S/${MARK}_grad.py" \
	--size 64x48 --fps 10 --frames 8 --format mp4 2>"$LOGS/producer.err")
rc=$?
path=$(echo "$out" | tail -1)
[ "$rc" -eq 0 ] && [ -f "$path" ]
res "producer.py exits 0 and prints its video's path (rc $rc: $path)"
check "the producer's video is valid (H.264 64x48, 8 frames)" probe "$path" 8
out=$(timeout 60 "$PY" "$SRC/examples/producer.py" --redis "$REELBOX_REDIS_URL" "$S/${MARK}_fail.sh" 2>>"$LOGS/producer.err")
check "producer.py exits 1 for a failing job" [ $? -eq 1 ]

# ==== d. submit --wait and status =======================================================
echo "== d. submit --wait, status --json"
out=$(timeout 60 "$BIN" submit --id "$MARK-wait" --size 64x48 --fps 10 --frames 6 "$S/${MARK}_fast.sh" --wait 2>/dev/null)
rc=$?
[ "$rc" -eq 0 ] && [ "$(echo "$out" | tail -1)" = "$MARK-wait" ]
res "submit --wait exits 0 for a good job, id on the last line (rc $rc)"
js=$("$BIN" status --json "$MARK-wait")
st=$(echo "$js" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["attempts"], d["progress"]["frames"], d["progress"]["total"], d["frames"], d["output"])' 2>/dev/null)
wout=${st##* }
[[ $st == "succeeded 1 6 6 6 $OUT/$MARK-wait."*".mp4" ]] && [ "$(readlink -f "$OUT/$MARK-wait.mp4")" = "$wout" ]
res "status --json shows state, attempts, progress, output; $MARK-wait.mp4 points at it ($st)"
timeout 60 "$BIN" submit --size 64x48 --frames 5 "$S/${MARK}_fail.sh" --wait >/dev/null 2>&1
check "submit --wait exits 1 for a failing job" [ $? -eq 1 ]

# ==== a long, CPU-heavy job keeps its lease ===========================================
echo "== a CPU-heavy job longer than twice the lease"
# The script spins a core for 8 s, then the worker encodes 60 frames of 640x360 with the
# slowest preset: heartbeats come from the event loop, which never waits for either,
# so the job must never be taken over (one attempt, one worker).
timeout 120 "$BIN" submit --id "$MARK-spin" --size 640x360 --fps 30 --frames 60 \
	--preset veryslow "$S/${MARK}_spin.py" --wait >/dev/null 2>&1
spin_rc=$?
spin=$(status_field "$MARK-spin" state)/$(status_field "$MARK-spin" attempts)
check "a CPU-heavy job of 8+ s with a ${LEASE} s lease ends succeeded on its first attempt (rc $spin_rc, $spin)" \
	[ "$spin_rc-$spin" = "0-succeeded/1" ]

# ==== a worker dies between Redis recording its success and the rename ================
echo "== a worker SIGKILLed right after Redis recorded its success"
# Redis is frozen (DEBUG SLEEP) while the job's completion is in flight; the worker is
# SIGKILLed before the reply comes; then Redis runs the completion. The job is recorded
# succeeded with an output path: that file must exist once the worker's leftovers are
# swept (the final worker start below), or the job must run again.
"$BIN" submit --id "$MARK-late" --size 64x48 --fps 10 --frames 5 "$S/${MARK}_late.sh" >/dev/null
late_pid=
lst=
if wait_state "$MARK-late" 10 running; then
	late_pid=$(pid_of_consumer "$(status_field "$MARK-late" worker)")
	sleep 1.2                               # the script sleeps 2 s
	"${RCLI[@]}" debug sleep 4 >/dev/null & # Redis frozen until ~5.5 s
	sleep 1.6                               # the completion went out at ~2.1 s
	kill -9 "$late_pid" 2>/dev/null
	wait "$late_pid" 2>/dev/null
	KILLED_WPIDS+=("$late_pid")
	start_worker L1
	wait_state "$MARK-late" 20 succeeded failed dead
	lst=$(status_field "$MARK-late" state) # before the 5 s TTL
	lout=$(status_field "$MARK-late" output)
fi

# ==== the end: stop everything, look for leftovers ======================================
echo "== leftovers"
# A final worker start sweeps what dead workers left (work dirs, scratch dirs, cgroups).
start_worker F
sleep 1
live=()
for name in "${!WPID[@]}"; do alive "${WPID[$name]}" && live+=("$name"); done
for name in "${live[@]}"; do kill -TERM "${WPID[$name]}"; done
bad_exit=
for name in "${live[@]}"; do
	wait_exit "${WPID[$name]}" $((GRACE + 15))
	rc=$?
	[ "$rc" -eq 0 ] || bad_exit="$bad_exit $name:$rc"
done
check "workers ${live[*]} exit 0 on SIGTERM${bad_exit:+ (bad:$bad_exit)}" [ -z "$bad_exit" ]

# ==== metrics ===========================================================================
echo "== metrics"
MPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" worker --concurrency 1 --output-dir "$OUT" --lease "$LEASE" --grace "$GRACE" \
	--config "$REELBOX_CONFIG" --metrics-port "$MPORT" --metrics-addr 0.0.0.0 2>"$LOGS/M.log" &
MPID=$!
ALL_WPIDS+=("$MPID")
timeout 60 "$BIN" submit --id "$MARK-metrics" --size 64x48 --frames 7 "$S/${MARK}_fast.sh" \
	--wait >/dev/null 2>&1
metrics=$("$PY" -c 'import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$MPORT" 2>/dev/null)
mline() { echo "$metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
msucc=$(mline 'reelbox_jobs_total{state="succeeded"}')
mframes=$(mline reelbox_frames_total)
mup=$(mline reelbox_redis_up)
mkills=$(mline 'reelbox_sandbox_kills_total{reason="timeout"}')
check "metrics on 127.0.0.1:$MPORT count the job (succeeded $msucc, frames $mframes, redis_up $mup, timeout kills $mkills)" \
	[ "$msucc/$mframes/$mup/$mkills" = "1/7/1/0" ]
mstart=$(mline reelbox_sandbox_start_seconds_count)
mstart_sum=$(mline reelbox_sandbox_start_seconds_sum)
mdur=$(mline 'reelbox_job_duration_seconds_bucket{le="+Inf"}')
mfps=$(mline reelbox_job_frames_per_second_count)
check "metrics: histograms of the sandbox's start (count $mstart, sum ${mstart_sum}s), duration (+Inf $mdur) and fps (count $mfps)" \
	[ "$mstart/$mdur/$mfps" = "1/1/1" -a "$("$PY" -c "print(0 < float('$mstart_sum') < 1)")" = True ]
mbound=$(ss -ltnH "sport = :$MPORT" 2>/dev/null | awk '{ print $4 }' | head -1)
check "--metrics-addr 0.0.0.0 listens on every interface ($mbound), for a pod's Service" \
	[ "$mbound" = "0.0.0.0:$MPORT" ]
"$BIN" worker --metrics-port "$MPORT" --metrics-addr 'not-an-ip' >/dev/null 2>"$LOGS/MA.err"
rc=$?
check "a bad --metrics-addr is one line, exit 2 ($(head -c 120 "$LOGS/MA.err"))" \
	[ $rc = 2 -a "$(wc -l <"$LOGS/MA.err")" = 1 ]
kill -TERM "$MPID"
wait_exit "$MPID" $((GRACE + 15))
check "the metrics worker exits 0 on SIGTERM" [ $? -eq 0 ]

# ==== f. an oversized document written straight into the stream ========================
HUGE_MB=${IT_QUEUE_HUGE_MB:-64}
echo "== f. a $HUGE_MB MB job document XADDed straight into the stream"
# `reelbox submit` refuses a document over the queue's doc_max (8 MiB); a raw XADD does
# not. The worker's fetch must dead-letter the entry inside Redis, never read it (a
# worker that did peaked at 1.28 GB for 400 MB and stalled its event loop), and go on.
"$BIN" worker --concurrency 1 --output-dir "$OUT" --lease "$LEASE" --grace "$GRACE" \
	--config "$REELBOX_CONFIG" 2>"$LOGS/H.log" &
HPID=$!
ALL_WPIDS+=("$HPID")
for _ in $(seq 50); do
	grep -q '"event":"redis_connected"' "$LOGS/H.log" && break
	sleep 0.1
done
vmhwm() { awk '$1 == "VmHWM:" { print int($2 / 1024) }' "/proc/$1/status" 2>/dev/null; }
hwm0=$(vmhwm "$HPID")
"$PY" -c 'import sys; n = int(sys.argv[1]) << 20
sys.stdout.write("{\"script\":\"" + "x" * (n - 13) + "\"}")' "$HUGE_MB" |
	"${RCLI[@]}" -x xadd reelbox:jobs '*' id "$MARK-huge" job >/dev/null
wait_state "$MARK-huge" 30 dead failed succeeded running
hst=$(status_field "$MARK-huge" state)
herr=$(status_field "$MARK-huge" error)
hwm1=$(vmhwm "$HPID")
want="job document is $((HUGE_MB << 20)) bytes, over the 8388608-byte cap (queue doc_max)"
[ "$hst" = dead ] && [ "$herr" = "$want" ]
res "the ${HUGE_MB} MB job ends dead with its size ($hst: $herr)"
[ -n "$hwm1" ] && [ "$hwm1" -lt 64 ]
res "the worker's peak RSS stays under 64 MB (VmHWM ${hwm0:-?} MB before, ${hwm1:-?} MB after)"
hdl=$("${RCLI[@]}" xrevrange reelbox:dead + - count 20 | grep -c -x "$MARK-huge")
check "the ${HUGE_MB} MB job is in the dead-letter stream" [ "$hdl" -ge 1 ]
hdrop=$(grep -c '"event":"entry_dead_lettered".*over the 8388608-byte cap' "$LOGS/H.log")
check "the worker logged the dead-lettered entry ($hdrop)" [ "$hdrop" -eq 1 ]
out=$(timeout 60 "$BIN" submit --id "$MARK-afterhuge" --size 64x48 --frames 5 "$S/${MARK}_fast.sh" --wait 2>/dev/null)
rc=$?
check "the worker takes the next job (rc $rc)" [ "$rc" -eq 0 ]
kill -TERM "$HPID"
wait_exit "$HPID" $((GRACE + 15))
check "the worker exits 0 on SIGTERM" [ $? -eq 0 ]
workfiles=$(find "$OUT/.work" -mindepth 1 2>/dev/null | head -5 | tr '\n' ' ')
late_file=missing
[ -n "${lout:-}" ] && [ -f "$lout" ] && late_file=exists
[ -n "$late_pid" ] && { { [ "$lst" = succeeded ] && [ "$late_file" = exists ]; } ||
	{ [ "$lst" != succeeded ] && [ -n "$lst" ]; }; }
res "a job recorded succeeded by a worker SIGKILLed while its completion was in flight has its output (state $lst; ${lout:-no output} $late_file)"
check "no work dirs or partial files left in $OUT/.work${workfiles:+: $workfiles}" [ -z "$workfiles" ]
extra=$(ls -A "$OUT" | grep -v -x -E "[A-Za-z0-9_-]+(\.[0-9]+-[0-9a-f]{16})?\.(mp4|jpg)|\.work" | head -5 | tr '\n' ' ')
check "output dir holds only <id>.<token>.mp4 files and <id>.mp4 links, and their .jpg posters${extra:+ (extra: $extra)}" [ -z "$extra" ]
scratch=$(ls -A "$T/state" | head -5 | tr '\n' ' ')
check "no scratch dirs left in the state dir${scratch:+: $scratch}" [ -z "$scratch" ]
cg=
for p in "${ALL_WPIDS[@]}"; do
	cg="$cg$(find /sys/fs/cgroup -maxdepth 8 -type d -name "rbx-$p-*" 2>/dev/null | head -3)"
done
check "no cgroups left (rbx-<worker pid>-*)${cg:+: $cg}" [ -z "$cg" ]
procs=$(pgrep -a -f "/job/${MARK}_" | head -5 | tr '\n' ';')
check "no sandbox processes left${procs:+: $procs}" [ -z "$procs" ]
nonjson=$(cat "$LOGS"/[A-Z]*.log | grep -v -c '^{')
check "worker logs are JSON lines only ($nonjson other lines)" [ "$nonjson" -eq 0 ]

note "total $((SECONDS - T_START)) s"
finish
