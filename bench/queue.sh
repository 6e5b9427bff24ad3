#!/usr/bin/env bash
# Queue benchmark (issue 4), run by hand, not in CI. Tiny jobs (64x48, 10 frames, a sh
# script writing raw rgb24 frames) through a private redis-server, measured against:
#
#   run x1     the same jobs back to back with `reelbox run`, one at a time;
#   run x2     the same, two at a time (xargs -P 2): the same parallelism as the queue;
#   queue      2 workers of concurrency 1 each, the jobs submitted beforehand; the time
#              from starting the workers to the last job's `finished` (Redis's clock);
#   farm       what a user might write instead: 2 bash loops, each `redis-cli BLPOP`,
#              then the script in bwrap (--unshare-all --die-with-parent, ro-binds of
#              /usr and the script) piped into the ffmpeg CLI (libx264, same defaults:
#              preset medium, crf 23, yuv420p, +faststart), then RPUSH of the id;
#
# plus the idle RSS of a worker (fresh, and after the jobs) and the latency from submit
# to done (finished - created in the job hash, both Redis's clock) of jobs submitted
# one after another by `reelbox submit` to idle workers.
#
# Targets: queue overhead under 10% (queue time vs run x2 time), queue throughput at
# least 3x the farm's, idle worker RSS under 10 MiB. Latency is reported, no target.
# Prints a table with PASS/MISS; exits 0 either way (non-zero only when a measured
# command fails).
#
# Environment: REELBOX_BIN (default build/reelbox), JOBS (default 100).
# Redis runs with appendonly yes (appendfsync everysec), as in production.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
N=${JOBS:-100}
W=64 H=48 FPS=10 FRAMES=10

for tool in redis-server redis-cli bwrap ffmpeg python3; do
	command -v "$tool" >/dev/null || {
		echo "bench/queue.sh: $tool is required" >&2
		exit 2
	}
done
[ -x "$BIN" ] || {
	echo "bench/queue.sh: no reelbox binary at $BIN (build it, or set REELBOX_BIN)" >&2
	exit 2
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bench-queue.XXXXXX")
PIDS=()
REDIS_PID=
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/redis" "$TMP/state" "$TMP/run1" "$TMP/run2" "$TMP/qout" "$TMP/farm" "$TMP/logs"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP/redis" --appendonly yes --save '' \
	--logfile "$TMP/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")
for _ in $(seq 100); do
	[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$TMP/state
export REELBOX_CONFIG=$TMP/config.json
echo '{}' >"$REELBOX_CONFIG"

SCRIPT=$TMP/tiny.sh
cat >"$SCRIPT" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr '\000' '\140'
EOF
export BIN SCRIPT TMP W H FPS FRAMES PORT

now_ms() { date +%s%3N; }
start_worker() { # start_worker NAME: concurrency 1, default lease
	"$BIN" worker --concurrency 1 --output-dir "$TMP/qout" 2>"$TMP/logs/$1.log" &
	PIDS+=("$!")
	LAST_PID=$!
}
# Job hashes of the ids in file $1: "n_final n_succeeded max_finished" and, with $2,
# the latencies (finished - created) one per line into $2.
final_stats() {
	python3 - "$PORT" "$1" "${2:-}" <<'EOF'
import socket, sys
port, idfile, latfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ids = [l.strip() for l in open(idfile) if l.strip()]
# A tiny RESP client: no redis-py needed for the bench.
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def cmd(*a):
    out = b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in (y.encode() for y in a))
    s.sendall(out)
def read():
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t == b"*":
        return [read() for _ in range(int(rest))] if int(rest) >= 0 else None
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        d = f.read(n + 2)[:-2]
        return d.decode()
    if t == b":":
        return int(rest)
    return rest.decode()
for i in ids:
    cmd("HMGET", "reelbox:job:" + i, "state", "created", "finished")
final = ok = 0
mx = 0
lat = []
for i in ids:
    st, cr, fi = read()
    if st in ("succeeded", "failed", "dead"):
        final += 1
        ok += st == "succeeded"
        mx = max(mx, int(fi))
        lat.append(int(fi) - int(cr))
print(final, ok, mx)
if latfile:
    open(latfile, "w").write("".join("%d\n" % x for x in lat))
EOF
}
wait_all() { # wait_all IDFILE SECONDS: until every job is final
	local n_final _ok _mx i
	for i in $(seq $(($2 * 20))); do
		read -r n_final _ok _mx < <(final_stats "$1")
		[ "$n_final" -ge "$(wc -l <"$1")" ] && return 0
		sleep 0.05
	done
	return 1
}
submit_ids() { # submit_ids PREFIX PARALLEL: N jobs via reelbox submit; ids to $TMP/PREFIX.ids
	seq -f "$1%04g" 1 "$N" >"$TMP/$1.ids"
	xargs -P "$2" -I{} "$BIN" submit --id {} --size ${W}x$H --fps $FPS --frames $FRAMES \
		"$SCRIPT" >/dev/null <"$TMP/$1.ids"
}

echo "queue bench: $N jobs of ${W}x$H, $FRAMES frames (sh raw writer), $(nproc) cores, redis $(redis-server --version | awk '{ print $3 }')"

# ---- reelbox run, back to back ----------------------------------------------------------
echo "  run x1 ..."
t0=$(now_ms)
for i in $(seq "$N"); do
	"$BIN" run --size ${W}x$H --fps $FPS --frames $FRAMES -o "$TMP/run1/$i.mp4" "$SCRIPT" 2>/dev/null
done
t_run1=$(($(now_ms) - t0))
echo "  run x2 ..."
t0=$(now_ms)
seq "$N" | xargs -P 2 -I{} "$BIN" run --size ${W}x$H --fps $FPS --frames $FRAMES \
	-o "$TMP/run2/{}.mp4" "$SCRIPT" 2>/dev/null
t_run2=$(($(now_ms) - t0))

# ---- idle RSS of a fresh worker -----------------------------------------------------------
start_worker idle
idle_pid=$LAST_PID
sleep 3
rss_fresh=$(ps -o rss= -p "$idle_pid" | tr -d ' ')
kill -TERM "$idle_pid"
wait "$idle_pid" || true

# ---- the queue: 2 workers x 1, jobs submitted beforehand --------------------------------
echo "  queue (submitting $N jobs first) ..."
submit_ids q 4
t0=$(now_ms)
start_worker w1
w1=$LAST_PID
start_worker w2
w2=$LAST_PID
wait_all "$TMP/q.ids" 300 || {
	echo "bench/queue.sh: the queue did not finish $N jobs in 300 s" >&2
	exit 1
}
read -r q_final q_ok q_last < <(final_stats "$TMP/q.ids")
t_queue=$((q_last - t0))
[ "$q_ok" -eq "$N" ] || {
	echo "bench/queue.sh: only $q_ok of $N queue jobs succeeded" >&2
	exit 1
}

# ---- latency: one job at a time to the idle workers (closed loop: the next job is
# submitted when the last is done, so no time is spent waiting behind other jobs) -----
echo "  latency ..."
sleep 1
seq -f "l%04g" 1 "$N" >"$TMP/l.ids"
while read -r id; do
	"$BIN" submit --wait --id "$id" --size ${W}x$H --fps $FPS --frames $FRAMES \
		"$SCRIPT" >/dev/null 2>&1
done <"$TMP/l.ids"
wait_all "$TMP/l.ids" 120 || {
	echo "bench/queue.sh: latency jobs did not finish" >&2
	exit 1
}
final_stats "$TMP/l.ids" "$TMP/lat" >/dev/null
read -r lat_p50 lat_p99 lat_max < <(sort -n "$TMP/lat" | awk '{ v[NR] = $1 } END {
	p50 = v[int((NR + 1) * 0.5)]; i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; print p50, v[i], v[NR] }')
sleep 3
rss_after=$(ps -o rss= -p "$w1" "$w2" | sort -n | tail -1 | tr -d ' ')
kill -TERM "$w1" "$w2"
wait "$w1" "$w2" || true

# ---- the shell farm -------------------------------------------------------------------------
echo "  shell farm ..."
cat >"$TMP/farm.sh" <<'EOF'
#!/usr/bin/env bash
# One farm worker: BLPOP a job id, render it in bwrap, encode with the ffmpeg CLI.
while :; do
	id=$(redis-cli -p "$PORT" --raw BLPOP farm:jobs 5 | tail -n 1)
	[ -n "$id" ] || continue
	[ "$id" = STOP ] && break
	out=$TMP/farm/$id.mp4
	if bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin \
		--symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin \
		--proc /proc --dev /dev --tmpfs /tmp --ro-bind "$SCRIPT" /job/script.sh --chdir /tmp \
		--clearenv --setenv WIDTH "$W" --setenv HEIGHT "$H" --setenv FPS "$FPS" \
		--setenv FRAMES "$FRAMES" --setenv PIX_FMT rgb24 --setenv PATH /usr/bin:/bin \
		/bin/sh /job/script.sh |
		ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt rgb24 -s "${W}x$H" -r "$FPS" -i - \
			-frames:v "$FRAMES" -c:v libx264 -pix_fmt yuv420p -movflags +faststart -f mp4 "$out.tmp"; then
		mv "$out.tmp" "$out"
		redis-cli -p "$PORT" RPUSH farm:done "$id" >/dev/null
	else
		rm -f "$out.tmp"
		redis-cli -p "$PORT" RPUSH farm:failed "$id" >/dev/null
	fi
done
EOF
seq -f "f%04g" 1 "$N" | sed 's/^/RPUSH farm:jobs /' | "${RCLI[@]}" >/dev/null
t0=$(now_ms)
bash "$TMP/farm.sh" &
PIDS+=("$!")
f1=$!
bash "$TMP/farm.sh" &
PIDS+=("$!")
f2=$!
for _ in $(seq 6000); do
	done_n=$(("$("${RCLI[@]}" llen farm:done)" + "$("${RCLI[@]}" llen farm:failed)"))
	[ "$done_n" -ge "$N" ] && break
	sleep 0.05
done
t_farm=$(($(now_ms) - t0))
"${RCLI[@]}" rpush farm:jobs STOP STOP >/dev/null
wait "$f1" "$f2" || true
farm_failed=$("${RCLI[@]}" llen farm:failed)

# ---- the table ------------------------------------------------------------------------------
python3 - "$N" "$t_run1" "$t_run2" "$t_queue" "$t_farm" "$rss_fresh" "$rss_after" \
	"$lat_p50" "$lat_p99" "$lat_max" "$farm_failed" <<'EOF'
import sys
n, run1, run2, queue, farm, rss0, rss1, p50, p99, pmax, ffail = map(int, sys.argv[1:])
tp = lambda ms: n / (ms / 1000.0)
over = queue / run2 - 1
ratio = tp(queue) / tp(farm)
rows = [
    ("throughput: queue, 2 workers x 1", "%.1f jobs/s" % tp(queue), "", "", ""),
    ("  vs reelbox run back to back, 2 at a time", "%.1f jobs/s" % tp(run2),
     "overhead %+.0f%%" % (over * 100), "< +10%", "PASS" if over < 0.10 else "MISS"),
    ("  vs reelbox run back to back, 1 at a time", "%.1f jobs/s" % tp(run1),
     "queue %.2fx" % (tp(queue) / tp(run1)), "(info)", ""),
    ("  vs shell farm (BLPOP, bwrap, ffmpeg CLI) x2", "%.1f jobs/s" % tp(farm),
     "queue %.1fx" % ratio, ">= 3x", "PASS" if ratio >= 3 else "MISS"),
    ("worker idle RSS, fresh", "%.1f MiB" % (rss0 / 1024.0), "", "< 10 MiB",
     "PASS" if rss0 < 10240 else "MISS"),
    ("worker idle RSS, after %d jobs" % (2 * n), "%.1f MiB" % (rss1 / 1024.0), "", "(info)", ""),
    ("latency submit -> done, p50", "%d ms" % p50, "", "(report)", ""),
    ("latency submit -> done, p99 (max)", "%d ms (%d)" % (p99, pmax), "", "(report)", ""),
]
print()
print("%-46s %-14s %-16s %-9s %s" % ("measure", "value", "comparison", "target", "result"))
print("-" * 96)
for r in rows:
    print("%-46s %-14s %-16s %-9s %s" % r)
print("\n%d jobs each; times: run x1 %d ms, run x2 %d ms, queue %d ms, farm %d ms%s" %
      (n, run1, run2, queue, farm, "; farm failures %d" % ffail if ffail else ""))
EOF
