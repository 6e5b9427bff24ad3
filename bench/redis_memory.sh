#!/usr/bin/env bash
# Redis memory across many jobs (issue 4: "Redis memory stays flat across 10,000 jobs").
#
# A private redis-server, two workers of concurrency 2, JOBS tiny jobs (16x16, 2 frames)
# submitted in batches of 1000; after each batch is done, Redis's used_memory, DBSIZE and
# the jobs stream's length are sampled. Results expire after result_ttl (30 s here, so
# the finished jobs of about one batch are still held at each sample). Run by hand:
#
#     bench/redis_memory.sh            # JOBS=10000 by default
#
# Prints a table: after N jobs | used_memory | DBSIZE | XLEN; and whether memory after
# the last batch is within 1.25x of after the middle one (by then results expire as fast
# as they come: flat, not growing with N).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${REELBOX_BIN:-$PWD/build/reelbox}
JOBS=${JOBS:-10000}
BATCH=1000
TMP=$(mktemp -d /tmp/reelbox-redismem.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no \
	--logfile "$TMP/redis.log" &
pids+=($!)
RCLI=(redis-cli -p "$PORT")
for _ in $(seq 50); do "${RCLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REELBOX_REDIS_URL="redis://127.0.0.1:$PORT"
printf '{"result_ttl": 30}\n' >"$TMP/config.json"

cat >"$TMP/tiny.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero
EOF
mkdir -p "$TMP/out"
for i in 1 2; do
	"$BIN" worker --concurrency 2 --output-dir "$TMP/out" --config "$TMP/config.json" \
		2>"$TMP/worker$i.log" &
	pids+=($!)
done

mem() { "${RCLI[@]}" info memory | awk -F: '/^used_memory:/ { print $2 }' | tr -d '\r'; }
printf "%-14s %-14s %-8s %-6s\n" "after N jobs" "used_memory" "DBSIZE" "XLEN"
printf "%-14s %-14s %-8s %-6s\n" 0 "$(mem)" "$("${RCLI[@]}" dbsize)" 0
first=""
done_jobs=0
while [ "$done_jobs" -lt "$JOBS" ]; do
	seq -f "m$done_jobs-%04g" 1 "$BATCH" |
		xargs -P 4 -I{} "$BIN" submit --id {} --size 16x16 --fps 10 --frames 2 \
			"$TMP/tiny.sh" >/dev/null
	done_jobs=$((done_jobs + BATCH))
	# Wait until every job of the batch is out of the stream and not running.
	for _ in $(seq 600); do
		pending=$("${RCLI[@]}" xlen reelbox:jobs)
		[ "$pending" -eq 0 ] && break
		sleep 0.2
	done
	sleep 1
	m=$(mem)
	[ "$done_jobs" -le $((JOBS / 2)) ] && first=$m
	printf "%-14s %-14s %-8s %-6s\n" "$done_jobs" "$m" "$("${RCLI[@]}" dbsize)" \
		"$("${RCLI[@]}" xlen reelbox:jobs)"
done
last=$(mem)
ratio=$(python3 -c "print('%.2f' % ($last / $first))")
verdict=MISS
python3 -c "import sys; sys.exit(0 if $last <= 1.25 * $first else 1)" && verdict=PASS
echo
echo "used_memory after the last batch / after the middle one: ${ratio}x (target: flat, <= 1.25x) $verdict"
