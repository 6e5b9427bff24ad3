#!/usr/bin/env bash
# What the worker process itself spends per job, before and after encoding moved into a
# confined encoder process (issue 7). Two measurements, each for the in-process encoder
# (OLD: reelbox built from BASE_REV, default fdfb0f0, the last commit before the move)
# and for this tree (NEW):
#   1. `reelbox run` of bench/numpy_720p.py (1280x720, 300 frames, veryfast, --cpus 2):
#      wall time (median of RUNS), and reelbox's OWN cpu time and VmHWM, sampled from
#      /proc every 20 ms while it runs (the sandbox and the encoder are other processes).
#      Target: NEW wall time within 2% of OLD's.
#   2. A worker (concurrency 1) draining JOBS tiny jobs (64x48, 10 frames), all submitted
#      before it starts, from a private redis-server: the worker process's own cpu per job (from /proc, start to
#      end) against what the jobs cost in their boxes (usage.script_cpu_ms +
#      usage.encoder_cpu_ms of each result; OLD reports no usage, its encoding was the
#      worker's own cpu). Target: the worker's own cpu under 5% of the jobs'. Also the
#      queue throughput, which must not drop.
# A target, not a test: prints PASS or MISS and exits 0.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_OLD_BIN (default: built from
# BASE_REV into ${TMPDIR:-/tmp}/reelbox-old), RUNS (3), JOBS (100).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
NEW=${REELBOX_BIN:-$SRC/build/reelbox}
BASE_REV=${BASE_REV:-fdfb0f0}
RUNS=${RUNS:-3}
JOBS=${JOBS:-100}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-cost.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

OLD=${REELBOX_OLD_BIN:-}
if [ -z "$OLD" ]; then
	tree=${TMPDIR:-/tmp}/reelbox-old
	if [ ! -x "$tree/build/reelbox" ]; then
		echo "building reelbox at $BASE_REV into $tree (once)"
		rm -rf "$tree"
		git -C "$SRC" worktree add -f "$tree" "$BASE_REV" >/dev/null
		cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release -DREELBOX_TESTS=OFF >/dev/null
		cmake --build "$tree/build" -j"$(nproc)" --target reelbox >/dev/null
	fi
	OLD=$tree/build/reelbox
fi

# sample PID OUT: every 20 ms, the last utime+stime (s) and VmHWM (kB) of PID.
sample() {
	python3 - "$1" "$2" <<'PY'
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
tck = os.sysconf("SC_CLK_TCK")
cpu = hwm = 0
while True:
    try:
        st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        if st[0] == "Z":
            break
        cpu = (int(st[11]) + int(st[12])) / tck
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except (OSError, IndexError):
        break
    time.sleep(0.02)
open(out, "w").write(f"{cpu} {hwm}\n")
PY
}

run_one() { # BIN TAG I
	local bin=$1 tag=$2 i=$3 t0 t1
	t0=$(date +%s.%N)
	"$bin" run --size 1280x720 --fps 30 --frames 300 --preset veryfast --crf 23 --cpus 2 \
		-o "$TMP/$tag.mp4" "$HERE/numpy_720p.py" >/dev/null 2>&1 &
	local pid=$!
	sample "$pid" "$TMP/$tag.$i.sample" &
	local sp=$!
	wait "$pid"
	wait "$sp"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc >"$TMP/$tag.$i.wall"
}

echo "1. reelbox run, 1280x720 x 300 frames, veryfast, --cpus 2; $RUNS runs after 1 warm-up"
# Interleaved, old then new in each round, so a change in the machine's load hits both.
run_one "$OLD" old warm
run_one "$NEW" new warm
for i in $(seq 1 "$RUNS"); do
	run_one "$OLD" old "$i"
	run_one "$NEW" new "$i"
done

echo "2. a worker draining $JOBS tiny jobs (64x48, 10 frames), concurrency 1"
port=$((20000 + RANDOM % 20000))
redis-server --port "$port" --save '' --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
cat >"$TMP/tiny.py" <<'PY'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(bytes([i * 20 % 256, 80, 160]) * (w * h))
PY
queue_run() { # BIN TAG: submit every job first, then time one worker draining them
	local bin=$1 tag=$2 url="redis://127.0.0.1:$port" wpid t0 t1
	redis-cli -p "$port" flushall >/dev/null
	mkdir -p "$TMP/out-$tag"
	for i in $(seq 1 "$JOBS"); do
		"$bin" submit --redis "$url" --size 64x48 --fps 10 --frames 10 --id "$tag-$i" \
			"$TMP/tiny.py" >/dev/null
	done
	t0=$(date +%s.%N)
	"$bin" worker --redis "$url" --concurrency 1 --output-dir "$TMP/out-$tag" \
		>"$TMP/worker-$tag.log" 2>&1 &
	wpid=$!
	# One slot takes jobs in order: the last one ends last.
	until case $(redis-cli -p "$port" hget "reelbox:job:$tag-$JOBS" state) in
		succeeded | failed | dead) true ;; *) false ;; esac; do
		sleep 0.01
	done
	t1=$(date +%s.%N)
	awk '{print $14 + $15}' "/proc/$wpid/stat" >"$TMP/$tag.worker_cpu"
	grep VmHWM "/proc/$wpid/status" | awk '{print $2}' >"$TMP/$tag.worker_hwm"
	kill -TERM "$wpid"
	wait "$wpid" || true
	echo "0 $(cat "$TMP/$tag.worker_cpu") $t0 $t1" >"$TMP/$tag.worker"
	: >"$TMP/$tag.usage"
	for i in $(seq 1 "$JOBS"); do
		redis-cli -p "$port" hget "reelbox:job:$tag-$i" result >>"$TMP/$tag.usage"
	done
}
queue_run "$OLD" old
queue_run "$NEW" new

python3 - "$TMP" "$RUNS" "$JOBS" "$(getconf CLK_TCK)" <<'PY'
import json, os, statistics, sys
tmp, runs, jobs, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def runstats(tag):
    walls = [float(open(f"{tmp}/{tag}.{i}.wall").read()) for i in range(1, runs + 1)]
    samples = [open(f"{tmp}/{tag}.{i}.sample").read().split() for i in range(1, runs + 1)]
    cpu = statistics.median(float(s[0]) for s in samples)
    hwm = max(int(s[1]) for s in samples)
    return statistics.median(walls), cpu, hwm

def queue(tag):
    c0, c1, t0, t1 = (float(x) for x in open(f"{tmp}/{tag}.worker").read().split())
    own = (c1 - c0) / tck / jobs
    job = 0.0
    n = 0
    for line in open(f"{tmp}/{tag}.usage"):
        line = line.strip()
        if not line:
            continue
        try:
            u = json.loads(line).get("usage")
        except ValueError:
            continue
        if u:
            job += (u["script_cpu_ms"] + u["encoder_cpu_ms"]) / 1000
            n += 1
    hwm = int(open(f"{tmp}/{tag}.worker_hwm").read())
    return own, (job / n if n else None), jobs / (t1 - t0), hwm

ow, oc, oh = runstats("old")
nw, nc, nh = runstats("new")
rows = [("metric", "old (in-process)", "new (encoder process)", "new/old", "target", "result")]
ratio = nw / ow
rows.append(("run: wall time (median)", "%.2f s" % ow, "%.2f s" % nw, "%.3fx" % ratio,
             "<= 1.02x", "PASS" if ratio <= 1.02 else "MISS"))
rows.append(("run: reelbox's own cpu", "%.2f s" % oc, "%.2f s" % nc, "", "", ""))
rows.append(("run: reelbox's own VmHWM", "%.1f MiB" % (oh / 1024), "%.1f MiB" % (nh / 1024), "", "", ""))
qo = queue("old")
qn = queue("new")
rows.append(("worker: own cpu per job", "%.1f ms" % (qo[0] * 1000), "%.1f ms" % (qn[0] * 1000), "", "", ""))
if qn[1]:
    share = qn[0] / qn[1] * 100
    rows.append(("worker: own cpu / jobs' cpu", "n/a (no usage)", "%.1f%% (jobs %.0f ms)" % (share, qn[1] * 1000),
                 "", "< 5%", "PASS" if share < 5 else "MISS"))
rows.append(("worker: VmHWM", "%.1f MiB" % (qo[3] / 1024), "%.1f MiB" % (qn[3] / 1024), "", "", ""))
tr = qn[2] / qo[2]
rows.append(("queue throughput", "%.1f jobs/s" % qo[2], "%.1f jobs/s" % qn[2], "%.2fx" % tr,
             ">= 0.95x", "PASS" if tr >= 0.95 else "MISS"))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
print()
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
PY
