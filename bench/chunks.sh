#!/usr/bin/env bash
# bench/chunks.sh: a 1,200-frame 720p job rendered whole on 1 slot, then as 4 chunks on
# 4 slots of this machine (submit --chunks 4), through a private redis-server and a real
# worker. Prints wall time, total CPU (script + encoder of every run, the join's
# included) and the join's time. Run by hand, not in CI:  bench/chunks.sh [build/reelbox]
# FRAMES=300 bench/chunks.sh for a quick look. docs/capacity.md has the numbers.
set -euo pipefail

BIN=${1:-build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
FRAMES=${FRAMES:-1200}
T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bch.XXXXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT REELBOX_STATE_DIR=$T/state
mkdir -p "$T/state" "$T/out" "$T/redis"
REDIS=
WORKER=
cleanup() {
	[ -n "$WORKER" ] && kill -9 "$WORKER" 2>/dev/null
	[ -n "$REDIS" ] && kill -9 "$REDIS" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/log" >/dev/null &
REDIS=$!
sleep 0.5

# A numpy script that honours its range: frame n is a window of one precomputed field.
cat >"$T/bench_chunks.py" <<'EOF'
import os, sys
import numpy as np
W, H, N = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
start = int(os.environ.get("FRAME_START", "0"))
count = int(os.environ.get("FRAME_COUNT", str(N)))
ys, xs = np.mgrid[0:H, 0:W + 256].astype(np.float32)
field = (xs + ys / H * 96 + 24 * np.sin(np.hypot(xs - W / 2, ys - H / 2) / 36)).astype(np.int32)
k = np.arange(256) / 256 * 2 * np.pi
pal = np.stack([96 + 80 * np.cos(k), 96 + 80 * np.cos(k + 2.1), 128 + 100 * np.cos(k + 4.2)],
               axis=1).astype(np.uint8)
wide = pal[field & 255]
out = sys.stdout.buffer
for n in range(start, start + count):
    f = np.ascontiguousarray(wide[:, n % 256:n % 256 + W])
    f[:, (n * 7) % W:(n * 7) % W + 40] = 255
    out.write(f.tobytes())
EOF

worker() { # worker SLOTS
	[ -n "$WORKER" ] && kill -TERM "$WORKER" && wait "$WORKER" 2>/dev/null || true
	"$BIN" worker --concurrency "$1" --output-dir "$T/out" 2>>"$T/worker.log" &
	WORKER=$!
	sleep 0.5
}
# run ID [--chunks N]: submit, wait; prints wall seconds
run() {
	local id=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$BIN" submit --id "$id" --size 1280x720 --fps 30 --frames "$FRAMES" --timeout 600 \
		--cpus 1 "$@" --wait "$T/bench_chunks.py" >/dev/null || {
		echo "bench/chunks.sh: job $id failed: see $T/worker.log" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	python3 -c "print('%.1f' % ($t1 - $t0))"
}
# cpu ID...: the script and encoder CPU seconds of these jobs' results, summed
cpu() {
	local id s=0
	for id in "$@"; do
		s=$(python3 -c '
import json, subprocess, sys
d = json.loads(subprocess.run([sys.argv[1], "status", "--json", sys.argv[2]],
                              capture_output=True, text=True).stdout)
r = d.get("result") or {}
u = r.get("usage", {})
print(float(sys.argv[3]) + (u.get("script_cpu_ms", 0) + u.get("encoder_cpu_ms", 0)) / 1000)' \
			"$BIN" "$id" "$s")
	done
	echo "$s"
}

worker 1
whole_wall=$(run whole)
whole_cpu=$(cpu whole)
worker 4
chunk_wall=$(run chunked --chunks 4)
chunk_cpu=$(cpu chunked chunked-c0 chunked-c1 chunked-c2 chunked-c3)
join_ms=$("$BIN" status --json chunked | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"].get("join_ms"))')
nproc=$(nproc)

printf '\n%d frames 1280x720, x264 medium, --cpus 1 per slot, %d cores\n' "$FRAMES" "$nproc"
printf '%-26s %10s %12s %10s\n' "" "wall s" "CPU s" "join ms"
printf '%-26s %10s %12.1f %10s\n' "whole, 1 slot" "$whole_wall" "$whole_cpu" "-"
printf '%-26s %10s %12.1f %10s\n' "4 chunks, 4 slots" "$chunk_wall" "$chunk_cpu" "$join_ms"
python3 -c "
w, c, cw = $whole_wall, $chunk_wall, $chunk_cpu
print('on 4 machines (one chunk each, the join on one): about %.1f s = the longest chunk + the join' % (cw / 4 / 1.0 + $join_ms / 1000))" || true
