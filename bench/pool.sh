#!/usr/bin/env bash
# Warm pool benchmark (issue 16), run by hand, not in CI. Three parts, each printed as a
# table beside baselines measured in the same run (rounds interleaved, so a noisy
# neighbour hits every mode alike):
#
# 1. job start, one job at a time (submit --wait, then a short pause so the pool has
#    refilled): from the worker's `job_started` t_ns (CLOCK_REALTIME just before the
#    job's sandbox is started or taken) to the script's first instruction (its T0, read
#    back with `reelbox logs ID`), and to numpy imported (T1), p50/p90, for
#      pool 2     reelbox worker --pool 2 (warm);
#      pool 0     reelbox worker --pool 0 (the cold path);
#      bwrap      bwrap --unshare-all --die-with-parent (ro /usr, merged-usr symlinks,
#                 --proc, --dev, --tmpfs /tmp, the script ro-bound) /usr/bin/python3,
#                 timed from a tiny python launcher's time_ns() just before the spawn.
#                 It also ro-binds /etc/alternatives and /etc/ld.so.cache (as reelbox's
#                 root does): Debian's numpy finds libblas.so.3 through /etc/alternatives
#                 and fails to import without it.
#    Target: p50 under 2 ms warm.
# 2. throughput of tiny jobs (64x48, 10 frames, the numpy script) on 2 slots, N jobs:
#      burst      all N queued before the worker (or the farm) starts; the time from its
#                 start to the last job's `finished` (Redis's clock). A pool starts
#                 filling at the worker's start, in the same 2 cores as the jobs.
#      paced      the worker started first and the pool full, then one job every
#                 PACE_MS (default: 80% of the burst throughput of --pool 0); the time
#                 from the first submit to the last finish, and submit-to-done latency.
#    Modes: farm (2 bash loops of redis-cli BLPOP, the script in bwrap piped into the
#    ffmpeg CLI), --pool 0, --pool 2, --pool 4 (one worker, --concurrency 2). With the
#    warm count (job_finished warm:true) and the machine's CPU seconds per job (all
#    cores, /proc/stat deltas over the run: includes whatever else runs on the host).
#    Targets: pool >= 5x farm and >= 2x --pool 0 (burst).
# 3. pool idle cost for --pool 0, 2, 8, 16: reelbox_pool_idle_memory_bytes and
#    idle_processes, MemAvailable and Slab (/proc/meminfo) before the worker and after
#    its pool filled, per member; the warm time (reelbox_pool_warm_seconds) and the time
#    to fill.
#
# Environment: REELBOX_BIN (default build/reelbox), LAT_JOBS (30 per mode), JOBS (60),
# ROUNDS (2: throughput rounds; latency runs LAT_JOBS in 3 interleaved rounds),
# PACE_MS, IDLE_SIZES ("0 2 8 16"), PARTS ("1 2 3").
# Prints PASS/MISS; exits 0 either way (non-zero only when a measured command fails).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
LAT_N=${LAT_JOBS:-30}
N=${JOBS:-60}
ROUNDS=${ROUNDS:-2}
IDLE_SIZES=${IDLE_SIZES:-0 2 8 16}
PARTS=${PARTS:-1 2 3}
PY=/usr/bin/python3 # numpy is needed where it runs; a pyenv python3 first in PATH may lack it
W=64 H=48 FPS=10 FRAMES=10

for tool in redis-server redis-cli bwrap ffmpeg curl; do
	command -v "$tool" >/dev/null || {
		echo "bench/pool.sh: $tool is required" >&2
		exit 2
	}
done
"$PY" -c 'import numpy' 2>/dev/null || {
	echo "bench/pool.sh: $PY with numpy is required" >&2
	exit 2
}
[ -x "$BIN" ] || {
	echo "bench/pool.sh: no reelbox binary at $BIN (build it, or set REELBOX_BIN)" >&2
	exit 2
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bench-pool.XXXXXX")
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

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
mkdir -p "$TMP/redis" "$TMP/state" "$TMP/qout" "$TMP/farm" "$TMP/logs"
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

# The job: its first line takes T0, then numpy, T1, both to stderr, then raw frames.
SCRIPT=$TMP/tiny.py
cat >"$SCRIPT" <<'EOF'
import time, sys; t0 = time.time_ns()
import os, numpy as np
t1 = time.time_ns()
sys.stderr.write("T0 %d T1 %d\n" % (t0, t1)); sys.stderr.flush()
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n): sys.stdout.buffer.write(np.full((h, w, 3), i * 20, np.uint8).tobytes())
EOF
export BIN SCRIPT TMP W H FPS FRAMES PORT PY

BWRAP=(bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin
	--symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp
	--ro-bind /etc/alternatives /etc/alternatives --ro-bind /etc/ld.so.cache /etc/ld.so.cache
	--ro-bind "$SCRIPT" /job/script.py --chdir /tmp --clearenv --setenv WIDTH "$W"
	--setenv HEIGHT "$H" --setenv FRAMES "$FRAMES" --setenv PATH /usr/bin:/bin)

now_ms() { date +%s%3N; }
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
HZ=$(getconf CLK_TCK)

WPID= MPORT= WLOG= STOPS=0 BAD_STOPS=0
: >"$TMP/bad_stops"
start_worker() { # start_worker NAME POOL: one worker, 2 slots, metrics on a free port
	MPORT=$(free_port)
	WLOG=$TMP/logs/$1.log
	"$BIN" worker --concurrency 2 --pool "$2" --metrics-port "$MPORT" \
		--output-dir "$TMP/qout" 2>"$WLOG" &
	WPID=$!
	PIDS+=("$WPID")
}
stop_worker() {
	kill -TERM "$WPID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$WPID" 2>/dev/null || true
	local rc=0
	wait "$WPID" 2>/dev/null || rc=$?
	STOPS=$((STOPS + 1))
	[ "$rc" -eq 0 ] || {
		BAD_STOPS=$((BAD_STOPS + 1))
		echo "$(basename "$WLOG" .log): exit $rc after SIGTERM: $(grep -v '^{' "$WLOG" | tail -1)" >>"$TMP/bad_stops"
	}
}
metrics() { curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" || true; }
metric() { # metric NAME_WITH_LABELS: its value from the last metrics() text in $TMP/m
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$TMP/m"
}
wait_pool() { # wait_pool SIZE: until the pool has SIZE ready (3 s up for size 0); secs taken
	local t0 i ready
	t0=$(now_ms)
	for i in $(seq 1200); do
		metrics >"$TMP/m"
		if [ "$1" -eq 0 ]; then
			[ -s "$TMP/m" ] && [ $(($(now_ms) - t0)) -ge 3000 ] && break
		else
			ready=$(metric 'reelbox_pool_sandboxes{state="ready"}')
			[ "${ready%.*}" -ge "$1" ] && break
		fi
		sleep 0.05
	done
	[ "$i" -lt 1200 ] || {
		echo "bench/pool.sh: the pool of $1 did not fill in 60 s" >&2
		exit 1
	}
	echo $(($(now_ms) - t0))
}
# Job hashes of the ids in file $1: "n_final n_succeeded max_finished min_created" and,
# with $2, the latencies (finished - created) one per line into $2.
final_stats() {
	"$PY" - "$PORT" "$1" "${2:-}" <<'EOF'
import socket, sys
port, idfile, latfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ids = [l.strip() for l in open(idfile) if l.strip()]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in (y.encode() for y in a)))
def read():
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t == b"*":
        return [read() for _ in range(int(rest))] if int(rest) >= 0 else None
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if t == b":":
        return int(rest)
    return rest.decode()
for i in ids:
    cmd("HMGET", "reelbox:job:" + i, "state", "created", "finished")
final = ok = mx = 0
mn = 1 << 62
lat = []
for i in ids:
    st, cr, fi = read()
    if st in ("succeeded", "failed", "dead"):
        final += 1
        ok += st == "succeeded"
        mx = max(mx, int(fi))
        mn = min(mn, int(cr))
        lat.append(int(fi) - int(cr))
print(final, ok, mx, mn)
if latfile:
    open(latfile, "w").write("".join("%d\n" % x for x in lat))
EOF
}
wait_all() { # wait_all IDFILE SECONDS: until every job is final
	# The cheap test first (the worker's log, one grep every 50 ms): the harness's own CPU
	# is taken from the machine being measured, and a Python start per poll was about a
	# tenth of it. Redis's hashes are read once the log has them all; the times measured
	# come from Redis (finished), not from this loop.
	local n_final _rest i want
	want=$(wc -l <"$1")
	for i in $(seq $(($2 * 20))); do
		if [ "$(grep -c '"event":"job_finished"' "$WLOG")" -ge "$want" ]; then
			read -r n_final _rest < <(final_stats "$1")
			[ "$n_final" -ge "$want" ] && return 0
		fi
		sleep 0.05
	done
	return 1
}
warm_count() { # warm_count LOG IDFILE: "warm cold failed" of those jobs' job_finished
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
ids = set(l.strip() for l in open(sys.argv[2]) if l.strip())
warm = cold = failed = 0
why = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") != "job_finished" or e.get("job") not in ids:
        continue
    if e.get("status") != "succeeded":
        failed += 1
    if e.get("warm"):
        warm += 1
    else:
        cold += 1
        w = e.get("cold_why") or "-"
        why[w] = why.get(w, 0) + 1
print(warm, cold, failed, ",".join("%s:%d" % kv for kv in sorted(why.items())) or "-")
EOF
}

echo "pool bench: $(nproc) cores, $(date -u +%FT%TZ), reelbox $("$BIN" --version 2>/dev/null | head -1 || echo '?'), $("$PY" -c 'import sys, numpy; print("python %d.%d numpy %s" % (sys.version_info[0], sys.version_info[1], numpy.__version__))')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. job start, one job at a time --------------------------------------------------
# Rows "mode start_ns t0_ns t1_ns warm" in $TMP/lat.rows.
lat_worker_round() { # lat_worker_round POOL ROUND COUNT
	local pool=$1 r=$2 k=$3 id i
	start_worker "lat-p$pool-r$r" "$pool"
	wait_pool "$pool" >/dev/null
	sleep 0.5
	: >"$TMP/lat-p$pool-r$r.ids"
	for i in $(seq "$k"); do
		id=lat-p$pool-r$r-$i
		echo "$id" >>"$TMP/lat-p$pool-r$r.ids"
		"$BIN" submit --wait --id "$id" --size ${W}x$H --fps $FPS --frames $FRAMES \
			"$SCRIPT" >/dev/null 2>"$TMP/logs/submit.err" || {
			echo "bench/pool.sh: latency job $id failed:" >&2
			cat "$TMP/logs/submit.err" >&2
			exit 1
		}
		"$BIN" logs "$id" >"$TMP/logs/$id.stderr" 2>&1 || true
		sleep 0.3
	done
	stop_worker
	"$PY" - "$WLOG" "$TMP/lat-p$pool-r$r.ids" "pool$pool" "$TMP/logs" >>"$TMP/lat.rows" <<'EOF'
import json, re, sys
log, idfile, mode, logdir = sys.argv[1:]
ids = [l.strip() for l in open(idfile) if l.strip()]
start, warm = {}, {}
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "job_started" and "t_ns" in e:
        start[e["job"]] = e["t_ns"]
    elif e.get("event") == "job_finished":
        warm[e["job"]] = (1 if e.get("warm") else 0, e.get("start_us") or 0)
for i in ids:
    m = re.search(r"T0 (\d+) T1 (\d+)", open("%s/%s.stderr" % (logdir, i)).read())
    if i not in start or not m:
        sys.stderr.write("bench/pool.sh: %s: no job_started t_ns or no T0 in its logs\n" % i)
        continue
    w, us = warm.get(i, (-1, 0))
    print(mode, start[i], m.group(1), m.group(2), w, us)
EOF
}
lat_bwrap_round() { # lat_bwrap_round COUNT
	"$PY" - "$1" "${BWRAP[@]}" /usr/bin/python3 /job/script.py >>"$TMP/lat.rows" <<'EOF'
import re, subprocess, sys, time
k, argv = int(sys.argv[1]), sys.argv[2:]
for _ in range(k):
    t = time.time_ns()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=True)
    m = re.search(rb"T0 (\d+) T1 (\d+)", p.stderr)
    print("bwrap", t, int(m.group(1)), int(m.group(2)), 0, 0)
    time.sleep(0.3)
EOF
}

part1() {
	local per r
	per=$(((LAT_N + 2) / 3))
	: >"$TMP/lat.rows"
	for r in 1 2 3; do
		echo "  job start, round $r of 3: pool 2, pool 0, bwrap ($per jobs each) ..."
		lat_worker_round 2 "$r" "$per"
		lat_worker_round 0 "$r" "$per"
		lat_bwrap_round "$per"
	done
	"$PY" - "$TMP/lat.rows" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))]
print()
print("1. job start, one job at a time (start: job_started t_ns / before spawning bwrap)")
print("%-34s %5s %5s %10s %10s %10s %10s %10s %s" % ("mode", "jobs", "warm", "T0 p50 ms", "T0 p90 ms",
      "T1 p50 ms", "T1 p90 ms", "sbx p50 ms", ""))
print("-" * 111)
res = {}
for mode, label in (("pool2", "reelbox worker --pool 2"), ("pool0", "reelbox worker --pool 0 (cold)"),
                    ("bwrap", "bwrap + /usr/bin/python3")):
    r = [x for x in rows if x[0] == mode]
    if not r:
        continue
    d0 = [(int(x[2]) - int(x[1])) / 1e6 for x in r]
    d1 = [(int(x[3]) - int(x[1])) / 1e6 for x in r]
    warm = sum(1 for x in r if x[4] == "1")
    res[mode] = (pct(d0, .5), pct(d1, .5))
    note = ""
    if mode == "pool2":
        note = "target T0 p50 < 2 ms: %s" % ("PASS" if pct(d0, .5) < 2 else "MISS")
    sbx = "%.2f" % pct([int(x[5]) / 1e3 for x in r], .5) if mode != "bwrap" else "-"
    print("%-34s %5d %5s %10.2f %10.2f %10.2f %10.2f %10s %s" % (label, len(r), warm if mode != "bwrap" else "-",
          pct(d0, .5), pct(d0, .9), pct(d1, .5), pct(d1, .9), sbx, note))
if "pool2" in res and "pool0" in res:
    print("warm vs cold, p50: to first instruction %.1fx faster, to numpy imported %.1fx faster"
          % (res["pool0"][0] / max(res["pool2"][0], 1e-3), res["pool0"][1] / max(res["pool2"][1], 1e-3)))
print("T0/T1: job_started t_ns (bwrap: the launcher's time_ns before the spawn) to the script's first line /"
      " to numpy imported; sbx: job_finished start_us (the sandbox's start, or the warm member's take)")
EOF
}

# ---- 2. throughput ------------------------------------------------------------------
cat >"$TMP/farm.sh" <<'EOF'
#!/usr/bin/env bash
# One farm worker: BLPOP a job id, run the script in bwrap, encode with the ffmpeg CLI.
while :; do
	id=$(redis-cli -p "$PORT" --raw BLPOP farm:jobs 5 | tail -n 1)
	[ -n "$id" ] || continue
	[ "$id" = STOP ] && break
	out=$TMP/farm/$id.mp4
	if bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin \
		--symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin \
		--proc /proc --dev /dev --tmpfs /tmp --ro-bind /etc/alternatives /etc/alternatives \
		--ro-bind /etc/ld.so.cache /etc/ld.so.cache --ro-bind "$SCRIPT" /job/script.py --chdir /tmp \
		--clearenv --setenv WIDTH "$W" --setenv HEIGHT "$H" --setenv FPS "$FPS" \
		--setenv FRAMES "$FRAMES" --setenv PIX_FMT rgb24 --setenv PATH /usr/bin:/bin \
		/usr/bin/python3 /job/script.py 2>/dev/null |
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

# Rows "mode variant round jobs ok wall_ms cpu_s warm cold failed why lat_p50 lat_p90" in $TMP/tp.rows
tp_farm() { # tp_farm ROUND
	local r=$1 t0 c0 c1 done_n f1 f2 failed
	"${RCLI[@]}" del farm:jobs farm:done farm:failed >/dev/null
	seq -f "f$r-%04g" 1 "$N" | sed 's/^/RPUSH farm:jobs /' | "${RCLI[@]}" >/dev/null
	c0=$(cpu_ticks)
	t0=$(now_ms)
	bash "$TMP/farm.sh" &
	f1=$!
	PIDS+=("$f1")
	bash "$TMP/farm.sh" &
	f2=$!
	PIDS+=("$f2")
	# one redis-cli every 50 ms (the same light harness as the worker's modes)
	for _ in $(seq 12000); do
		done_n=$("${RCLI[@]}" eval "return redis.call('llen', KEYS[1]) + redis.call('llen', KEYS[2])" 2 farm:done farm:failed)
		[ "$done_n" -ge "$N" ] && break
		sleep 0.05
	done
	local wall=$(($(now_ms) - t0))
	c1=$(cpu_ticks)
	"${RCLI[@]}" rpush farm:jobs STOP STOP >/dev/null
	wait "$f1" "$f2" || true
	failed=$("${RCLI[@]}" llen farm:failed)
	echo "farm burst $r $N $((N - failed)) $wall $(((c1 - c0) * 100 / HZ)) 0 $N $failed - - -" >>"$TMP/tp.rows"
}
submit_ids() { # submit_ids IDFILE: the jobs via reelbox submit, 4 at a time
	xargs -P 4 -I{} "$BIN" submit --id {} --size ${W}x$H --fps $FPS --frames $FRAMES \
		"$SCRIPT" >/dev/null <"$1"
}
tp_burst() { # tp_burst POOL ROUND
	local pool=$1 r=$2 ids t0 c0 c1 final ok last _mn
	ids=$TMP/b-p$pool-r$r.ids
	seq -f "b-p$pool-r$r-%04g" 1 "$N" >"$ids"
	submit_ids "$ids"
	c0=$(cpu_ticks)
	t0=$(now_ms)
	start_worker "b-p$pool-r$r" "$pool"
	wait_all "$ids" 600 || {
		echo "bench/pool.sh: burst --pool $pool did not finish $N jobs in 600 s" >&2
		exit 1
	}
	read -r final ok last _mn < <(final_stats "$ids")
	c1=$(cpu_ticks)
	stop_worker
	echo "pool$pool burst $r $N $ok $((last - t0)) $(((c1 - c0) * 100 / HZ)) $(warm_count "$WLOG" "$ids") - -" >>"$TMP/tp.rows"
}
tp_paced() { # tp_paced POOL ROUND PACE_MS
	local pool=$1 r=$2 pace=$3 ids c0 c1 final ok last first id p50 p90
	ids=$TMP/p-p$pool-r$r.ids
	seq -f "p-p$pool-r$r-%04g" 1 "$N" >"$ids"
	start_worker "p-p$pool-r$r" "$pool"
	wait_pool "$pool" >/dev/null
	c0=$(cpu_ticks)
	# one submit every PACE_MS, on a fixed schedule (a slow submit does not shift the rest)
	"$PY" - "$pace" "$ids" "$BIN" "$SCRIPT" "${W}x$H" "$FPS" "$FRAMES" <<'EOF'
import subprocess, sys, time
pace, ids, bin_, script, size, fps, frames = sys.argv[1:]
pace = int(pace) / 1000.0
procs = []
t0 = time.monotonic()
for k, i in enumerate(l.strip() for l in open(ids) if l.strip()):
    d = t0 + k * pace - time.monotonic()
    if d > 0:
        time.sleep(d)
    procs.append(subprocess.Popen([bin_, "submit", "--id", i, "--size", size, "--fps", fps,
                                   "--frames", frames, script], stdout=subprocess.DEVNULL))
for p in procs:
    if p.wait():
        sys.exit("bench/pool.sh: a paced submit failed")
EOF
	wait_all "$ids" 600 || {
		echo "bench/pool.sh: paced --pool $pool did not finish $N jobs in 600 s" >&2
		exit 1
	}
	read -r final ok last first < <(final_stats "$ids" "$TMP/plat")
	c1=$(cpu_ticks)
	stop_worker
	read -r p50 p90 < <(sort -n "$TMP/plat" | awk '{ v[NR] = $1 } END {
		print v[int((NR - 1) * 0.5 + 1.5)], v[int((NR - 1) * 0.9 + 1.5)] }')
	echo "pool$pool paced $r $N $ok $((last - first)) $(((c1 - c0) * 100 / HZ)) $(warm_count "$WLOG" "$ids") $p50 $p90" >>"$TMP/tp.rows"
}

part2() {
	local r pool pace
	: >"$TMP/tp.rows"
	for r in $(seq "$ROUNDS"); do
		echo "  throughput burst, round $r of $ROUNDS: farm, pool 0, pool 2, pool 4 ($N jobs each) ..."
		tp_farm "$r"
		for pool in 0 2 4; do tp_burst "$pool" "$r"; done
	done
	# paced at 80% of --pool 0's burst throughput (this run's)
	pace=${PACE_MS:-$(awk '$1 == "pool0" && $2 == "burst" { j += $4; ms += $6 } END {
		printf "%d", ms / j / 0.8 + 0.5 }' "$TMP/tp.rows")}
	for r in $(seq "$ROUNDS"); do
		echo "  throughput paced (one job every $pace ms), round $r of $ROUNDS: pool 0, 2, 4 ..."
		for pool in 0 2 4; do tp_paced "$pool" "$r" "$pace"; done
	done
	"$PY" - "$TMP/tp.rows" "$N" "$pace" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
n, pace = int(sys.argv[2]), int(sys.argv[3])
agg = {}
for m, v, r, jobs, ok, wall, cpu, warm, cold, failed, why, p50, p90 in rows:
    a = agg.setdefault((m, v), dict(jobs=0, ok=0, ms=0, cpu=0, warm=0, cold=0, failed=0,
                                    why={}, walls=[], p50=[], p90=[]))
    a["jobs"] += int(jobs); a["ok"] += int(ok); a["ms"] += int(wall); a["cpu"] += int(cpu) / 100.0
    a["warm"] += int(warm); a["cold"] += int(cold); a["failed"] += int(failed)
    a["walls"].append(int(wall))
    for kv in why.split(",") if why != "-" else ():
        k, _, c = kv.rpartition(":")
        a["why"][k] = a["why"].get(k, 0) + int(c)
    if p50 != "-":
        a["p50"].append(int(p50)); a["p90"].append(int(p90))
tp = lambda a: a["jobs"] / (a["ms"] / 1000.0)
label = {"farm": "farm (BLPOP, bwrap python3 | ffmpeg) x2", "pool0": "worker -c 2 --pool 0",
         "pool2": "worker -c 2 --pool 2", "pool4": "worker -c 2 --pool 4"}
print()
print("2a. throughput, burst: %d jobs queued before the start, 2 slots, rounds summed" % n)
print("%-40s %9s %8s %8s %9s %11s %-16s %s" % ("mode", "jobs/s", "vs farm", "vs p0", "warm/all",
      "cpu s/job", "walls ms", "target"))
print("-" * 118)
farm, p0 = agg.get(("farm", "burst")), agg.get(("pool0", "burst"))
for m in ("farm", "pool0", "pool2", "pool4"):
    a = agg.get((m, "burst"))
    if not a:
        continue
    vf = tp(a) / tp(farm) if farm else 0
    vp = tp(a) / tp(p0) if p0 else 0
    tgt = ""
    if m in ("pool2", "pool4"):
        tgt = ">=5x farm %s, >=2x p0 %s" % ("PASS" if vf >= 5 else "MISS", "PASS" if vp >= 2 else "MISS")
    print("%-40s %9.1f %7.2fx %7.2fx %9s %11.3f %-16s %s" % (label[m], tp(a), vf, vp,
          "%d/%d" % (a["warm"], a["jobs"]) if m != "farm" else "-", a["cpu"] / a["jobs"],
          ",".join(map(str, a["walls"])), tgt))
    if a["failed"] or a["ok"] < a["jobs"]:
        print("    ! %d of %d jobs did not succeed" % (a["jobs"] - a["ok"], a["jobs"]))
    if a["why"] and m != "pool0":
        print("    cold_why (jobs that started cold): %s" % " ".join("%s:%d" % kv for kv in sorted(a["why"].items())))
print()
print("2b. throughput, paced: the pool full first, then one job every %d ms (80%% of p0's burst rate)" % pace)
print("%-40s %9s %9s %11s %12s %12s" % ("mode", "jobs/s", "warm/all", "cpu s/job", "lat p50 ms",
      "lat p90 ms"))
print("-" * 100)
for m in ("pool0", "pool2", "pool4"):
    a = agg.get((m, "paced"))
    if not a:
        continue
    print("%-40s %9.1f %9s %11.3f %12s %12s" % (label[m], tp(a), "%d/%d" % (a["warm"], a["jobs"]),
          a["cpu"] / a["jobs"], "/".join(map(str, a["p50"])), "/".join(map(str, a["p90"]))))
    if a["failed"] or a["ok"] < a["jobs"]:
        print("    ! %d of %d jobs did not succeed" % (a["jobs"] - a["ok"], a["jobs"]))
    if a["why"] and m != "pool0":
        print("    cold_why (jobs that started cold): %s" % " ".join("%s:%d" % kv for kv in sorted(a["why"].items())))
print("(paced jobs/s is the first submit to the last finish: bounded by the pace; latency is"
      " submit to done, Redis's clock, one value per round)")
print("cpu s/job: the whole machine's busy cpu (/proc/stat) over the run / jobs, other tenants included")
EOF
}

# ---- 3. idle cost ---------------------------------------------------------------------
meminfo() { awk '$1 == "MemAvailable:" { a = $2 } $1 == "Slab:" { s = $2 } END { print a, s }' /proc/meminfo; }
part3() {
	local pool a0 s0 a1 s1 fill
	: >"$TMP/idle.rows"
	for pool in $IDLE_SIZES; do
		echo "  idle cost, --pool $pool ..."
		sync
		sleep 1
		read -r a0 s0 < <(meminfo)
		start_worker "idle-p$pool" "$pool"
		fill=$(wait_pool "$pool")
		sleep 2
		metrics >"$TMP/m"
		read -r a1 s1 < <(meminfo)
		echo "$pool $fill $(metric reelbox_pool_idle_memory_bytes) $(metric reelbox_pool_idle_processes)" \
			"$(metric reelbox_pool_warm_seconds) $((a0 - a1)) $((s1 - s0))" \
			"$(ps -o rss= -p "$WPID" | tr -d ' ')" >>"$TMP/idle.rows"
		stop_worker
	done
	"$PY" - "$TMP/idle.rows" <<'EOF'
import sys
print()
print("3. pool idle cost (MemAvailable/Slab: before the worker -> 2 s after the pool filled; host-wide, noisy)")
print("%-6s %9s %10s %9s %9s %10s %11s %10s %11s %9s" % ("pool", "fill s", "idle MiB", "per MiB",
      "procs", "warm s", "MemAv MiB", "per MiB", "Slab MiB", "per KiB"))
print("-" * 106)
for l in open(sys.argv[1]):
    p, fill, mem, procs, warm, dav, dslab, rss = l.split()
    p = int(p); k = max(p, 1)
    print("%-6d %9.2f %10.1f %9s %9s %10s %11.1f %10s %11.1f %9s" % (p, int(fill) / 1000.0,
          int(float(mem)) / 2**20, "%.1f" % (int(float(mem)) / 2**20 / k) if p else "-", procs,
          warm if p else "-", int(dav) / 1024.0, "%.1f" % (int(dav) / 1024.0 / k) if p else "-",
          int(dslab) / 1024.0, "%.0f" % (int(dslab) / k) if p else "-"))
print("(pool 0: the worker alone; fill s for pool 0 is the fixed 3 s wait; worker RSS is not included in idle MiB)")
EOF
}

for part in $PARTS; do "part$part"; done
echo
echo "worker stops (SIGTERM): $STOPS, exiting non-zero: $BAD_STOPS"
sed 's/^/  /' "$TMP/bad_stops"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
