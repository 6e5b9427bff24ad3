#!/usr/bin/env bash
# Farm benchmark (issue 13), run by hand, not in CI. What delivery and the dashboard
# cost a farm, measured in one run on this machine:
#
#   plain     JOBS tiny jobs (64x48, 10 frames, a sh script writing raw rgb24) through a
#             private redis-server on 2 workers of concurrency 1, submitted beforehand;
#             the time from starting the workers to the last job's `finished` (Redis's
#             clock);
#   uploads   the same jobs, each with an "upload" to a presigned PUT URL (boto3) on a
#             local S3-compatible server (s3rver from npm, as tests/it_delivery.sh uses),
#             the same workers' settings; every object is read back (count and sizes);
#
# giving the upload overhead per job (wall time of the farm, and the workers' own
# reelbox_upload_seconds histogram), and throughput with and without uploads. Then the
# dashboard: `reelbox web` on loopback, the page's weight (bytes, and gzip -9 of it),
# and the server's RSS idle, then while 5 clients follow /api/events for FOLLOW_S
# seconds as a third farm run goes through (so the events carry changes).
#
# Targets: upload overhead under 50 ms per job on loopback; page weight under 64 KiB;
# web server RSS under 32 MiB with 5 followers. Prints a table with PASS/MISS and exits
# 0 either way (non-zero only when a measured command fails).
#
# Environment: REELBOX_BIN (default build/reelbox), JOBS (default 500), FOLLOW_S (20).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
N=${JOBS:-500}
FOLLOW_S=${FOLLOW_S:-20}
NPMDIR=$(dirname "$BIN")/npm-cache

for tool in redis-server redis-cli python3 node npm curl gzip; do
	command -v "$tool" >/dev/null || {
		echo "bench/farm.sh: $tool is required" >&2
		exit 2
	}
done
python3 -c 'import boto3' 2>/dev/null || {
	echo "bench/farm.sh: python3-boto3 is required (scripts/install-deps.sh)" >&2
	exit 2
}
[ -x "$BIN" ] || {
	echo "bench/farm.sh: no reelbox binary at $BIN (build it, or set REELBOX_BIN)" >&2
	exit 2
}
S3RVER=$NPMDIR/node_modules/s3rver/bin/s3rver.js
if [ ! -f "$S3RVER" ]; then
	mkdir -p "$NPMDIR"
	npm install --prefix "$NPMDIR" --no-audit --no-fund s3rver >/dev/null 2>&1 || {
		echo "bench/farm.sh: npm install s3rver failed (is the npm registry reachable?)" >&2
		exit 2
	}
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bench-farm.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT: until something listens (10 s)
	local i
	for i in $(seq 200); do
		python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

mkdir -p "$TMP/redis" "$TMP/state" "$TMP/out" "$TMP/s3" "$TMP/logs"
PORT=$(free_port)
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP/redis" --appendonly yes \
	--appendfsync everysec --save '' --logfile "$TMP/redis/redis.log" >/dev/null 2>&1 &
PIDS+=($!)
S3PORT=$(free_port)
node "$S3RVER" -d "$TMP/s3" -a 127.0.0.1 -p "$S3PORT" --configure-bucket reel --silent \
	>"$TMP/logs/s3rver.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" && wait_port "$S3PORT" || {
	echo "bench/farm.sh: redis-server or s3rver did not start" >&2
	exit 1
}
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$TMP/state
export REELBOX_CONFIG=$TMP/config.json
echo '{"result_ttl": 3600}' >"$REELBOX_CONFIG"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")

SCRIPT=$TMP/tiny.sh
cat >"$SCRIPT" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr '\000' '\140'
EOF

# Presigned PUT URLs for keys PREFIX0001.mp4 ..., one per line, into FILE.
presign() { # presign PREFIX FILE
	python3 - "$S3PORT" "$1" "$N" >"$2" <<'EOF'
import sys, boto3, botocore.config
port, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:" + port, aws_access_key_id="S3RVER",
                  aws_secret_access_key="S3RVER", region_name="us-east-1",
                  config=botocore.config.Config(signature_version="s3v4",
                                                s3={"addressing_style": "path"}))
for i in range(1, n + 1):
    print(s3.generate_presigned_url("put_object", ExpiresIn=3600,
          Params={"Bucket": "reel", "Key": "%s%04d.mp4" % (prefix, i), "ContentType": "video/mp4"}))
EOF
}

# submit PREFIX [URLFILE]: N jobs, ids PREFIX0001 ..., with uploads when URLFILE is given.
submit() {
	local i id args
	seq -f "$1%04g" 1 "$N" >"$TMP/$1.ids"
	i=0
	while read -r id; do
		i=$((i + 1))
		args=()
		[ -n "${2:-}" ] && args=(--upload-url "$(sed -n "${i}p" "$2")")
		"$BIN" submit --id "$id" --size 64x48 --fps 10 --frames 10 "${args[@]}" "$SCRIPT" >/dev/null
	done <"$TMP/$1.ids"
}

# "final succeeded first_started last_finished" of the ids in FILE (Redis's clock).
stats() {
	python3 - "$PORT" "$1" <<'EOF'
import subprocess, sys
port, ids = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
script = "\n".join("HMGET reelbox:job:%s state started finished" % i for i in ids) + "\n"
out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", port], input=script,
                     capture_output=True, text=True, check=True).stdout.split("\n")
final = ok = 0
first, last = None, 0
for k in range(len(ids)):
    st, sa, fi = out[3 * k:3 * k + 3]
    if st in ("succeeded", "failed", "dead"):
        final += 1
        ok += st == "succeeded"
        last = max(last, int(fi))
    if sa:
        first = int(sa) if first is None else min(first, int(sa))
print(final, ok, first or 0, last)
EOF
}

MPORTS=()
# farm PREFIX: start 2 workers, wait for every job of PREFIX, stop them; prints seconds
# from the workers' start to the last `finished`. Worker metrics scraped before the stop.
farm() {
	local t0 final ok first last i pids=() mp
	t0=$(date +%s%3N)
	MPORTS=()
	for i in 1 2; do
		mp=$(free_port)
		MPORTS+=("$mp")
		"$BIN" worker --concurrency 1 --output-dir "$TMP/out" --metrics-port "$mp" \
			2>"$TMP/logs/$1-w$i.log" &
		pids+=($!)
		PIDS+=($!)
	done
	for i in $(seq 6000); do
		read -r final ok first last < <(stats "$TMP/$1.ids")
		[ "$final" -ge "$N" ] && break
		sleep 0.1
	done
	for mp in "${MPORTS[@]}"; do curl -s -m 5 "http://127.0.0.1:$mp/metrics"; done >"$TMP/$1.metrics"
	kill -TERM "${pids[@]}"
	wait "${pids[@]}" 2>/dev/null || true
	[ "$ok" -eq "$N" ] || {
		echo "bench/farm.sh: $1: $ok of $N jobs succeeded" >&2
		exit 1
	}
	python3 -c 'import sys; print("%.3f" % ((int(sys.argv[2]) - int(sys.argv[1])) / 1000))' "$t0" "$last"
}
msum() { # msum PREFIX NAME: a metric summed over both workers
	awk -v k="$2" '$1 == k { s += $2 } END { printf "%.6f\n", s }' "$TMP/$1.metrics"
}

echo "bench/farm.sh: $N jobs a run, 2 workers, redis at $PORT, s3rver at $S3PORT" >&2
submit plain
T_PLAIN=$(farm plain)
presign up "$TMP/up.urls"
submit up "$TMP/up.urls"
T_UP=$(farm up)
UP_SUM=$(msum up reelbox_upload_seconds_sum)
UP_N=$(msum up reelbox_upload_seconds_count)
OBJECTS=$(python3 - "$S3PORT" "$N" <<'EOF'
import sys, boto3, botocore.config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:" + sys.argv[1], aws_access_key_id="S3RVER",
                  aws_secret_access_key="S3RVER", region_name="us-east-1",
                  config=botocore.config.Config(signature_version="s3v4",
                                                s3={"addressing_style": "path"}))
n = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="reel", Prefix="up"):
    n += sum(1 for o in page.get("Contents", []) if o["Size"] > 0)
print(n)
EOF
)

# ---- the dashboard --------------------------------------------------------------------
WPORT=$(free_port)
"$BIN" web --listen "127.0.0.1:$WPORT" 2>"$TMP/logs/web.log" &
WEB=$!
PIDS+=($WEB)
wait_port "$WPORT" || {
	echo "bench/farm.sh: reelbox web did not start ($(head -c 300 "$TMP/logs/web.log"))" >&2
	exit 1
}
curl -s -m 5 "http://127.0.0.1:$WPORT/" >"$TMP/page.html"
PAGE=$(wc -c <"$TMP/page.html")
PAGE_GZ=$(gzip -9c "$TMP/page.html" | wc -c)
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
hwm() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
RSS_IDLE=$(rss "$WEB")
for i in 1 2 3 4 5; do
	curl -s -N -m "$FOLLOW_S" "http://127.0.0.1:$WPORT/api/events" >"$TMP/follow$i.txt" 2>/dev/null &
	PIDS+=($!)
done
submit follow
"$BIN" worker --concurrency 2 --output-dir "$TMP/out" 2>"$TMP/logs/follow-w.log" &
FW=$!
PIDS+=($FW)
RSS_PEAK=0
for i in $(seq $((FOLLOW_S * 4))); do
	r=$(rss "$WEB")
	[ "$r" -gt "$RSS_PEAK" ] && RSS_PEAK=$r
	sleep 0.25
done
RSS_HWM=$(hwm "$WEB")
EVENTS=$(cat "$TMP"/follow*.txt | grep -c '^event:' || true)
kill -TERM "$FW" 2>/dev/null || true

# ---- the table ------------------------------------------------------------------------
python3 - "$N" "$T_PLAIN" "$T_UP" "$UP_SUM" "$UP_N" "$OBJECTS" "$PAGE" "$PAGE_GZ" \
	"$RSS_IDLE" "$RSS_PEAK" "$RSS_HWM" "$EVENTS" "$FOLLOW_S" <<'EOF'
import sys
n, t_plain, t_up, up_sum, up_n, objects, page, page_gz, rss_idle, rss_peak, rss_hwm, events, follow = sys.argv[1:]
n, t_plain, t_up, up_sum, up_n = int(n), float(t_plain), float(t_up), float(up_sum), float(up_n)
over_wall = (t_up - t_plain) * 2 / n * 1000  # 2 slots: wall overhead per job
over_up = up_sum / up_n * 1000 if up_n else float("nan")
def row(what, value, baseline, target, ok):
    print("| %-44s | %14s | %19s | %-12s | %-4s |" % (what, value, baseline, target, "PASS" if ok else "MISS"))
print("| %-44s | %14s | %19s | %-12s | %-4s |" % ("measure", "value", "baseline (same run)", "target", ""))
print("|" + "-" * 46 + "|" + "-" * 16 + "|" + "-" * 21 + "|" + "-" * 14 + "|------|")
row("%d jobs, 2 workers, no uploads: wall s" % n, "%.2f" % t_plain, "-", "-", True)
row("throughput without uploads, jobs/s", "%.1f" % (n / t_plain), "-", "-", True)
row("%d jobs with uploads to s3rver: wall s" % n, "%.2f" % t_up, "%.2f (no uploads)" % t_plain, "-", True)
row("throughput with uploads, jobs/s", "%.1f" % (n / t_up), "%.1f" % (n / t_plain), "-", True)
row("upload overhead per job (farm wall x slots)", "%.1f ms" % over_wall, "0", "< 50 ms", over_wall < 50)
row("upload time per job (worker histogram)", "%.1f ms" % over_up, "-", "< 50 ms", over_up < 50)
row("objects read back from the bucket", objects, str(n), "= %d" % n, int(objects) == n)
row("dashboard page weight, bytes", page, "-", "< 65536", int(page) < 65536)
row("dashboard page, gzip -9, bytes", page_gz, "-", "-", True)
row("web server RSS idle, KiB", rss_idle, "-", "-", True)
row("web RSS, 5 clients on /api/events, KiB", rss_peak, rss_idle + " (idle)", "< 32768", int(rss_peak) < 32768)
row("web VmHWM after it, KiB", rss_hwm, "-", "-", True)
row("events received by the 5 clients in %s s" % follow, events, "-", "> 0", int(events) > 0)
EOF
