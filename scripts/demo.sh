#!/bin/bash
# The README's first command: install what reelbox needs, build it, then run the
# product the way a render farm does, on an embedded default: a private redis-server,
# one reelbox worker, every example script submitted through the queue, and the
# videos written to a folder (./demo-out, or $REELBOX_DEMO_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

out=${REELBOX_DEMO_OUT:-$root/demo-out}
mkdir -p "$out"
work=$(mktemp -d /tmp/reelbox-demo.XXXXXX)
redis_pid=""
worker_pid=""
cleanup() {
	[ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# A private redis-server on a free loopback port: the demo never touches a Redis of
# the machine's own.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
	--logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 50); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.1
done
export REELBOX_REDIS_URL="redis://127.0.0.1:$port"

build/reelbox worker --concurrency 2 --output-dir "$out" 2>"$out/worker.log" &
worker_pid=$!

ids=()
names=()
for script in examples/*.py examples/*.sh examples/*.js examples/*.lua; do
	[ -e "$script" ] || continue
	case "$script" in examples/producer.py) continue ;; esac
	stem=$(basename "${script%.*}")
	id=$(build/reelbox submit --id "demo-$stem" --size 640x360 --fps 24 --duration 3 "$script" | tail -n 1)
	ids+=("$id")
	names+=("$script")
	echo "submitted $script as job $id"
done

failed=0
for i in "${!ids[@]}"; do
	id=${ids[$i]}
	# The jobs run two at a time; look at each one's state until it is final.
	for _ in $(seq 600); do
		state=$(build/reelbox status --json "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
		case "$state" in succeeded | failed | dead) break ;; esac
		sleep 0.2
	done
	if [ "$state" = succeeded ]; then
		echo "ok     ${names[$i]} -> $out/$id.mp4"
	else
		echo "FAILED ${names[$i]}: $(build/reelbox status "$id" | grep '^error' || true)"
		failed=$((failed + 1))
	fi
done

echo
echo "videos are in $out:"
ls -l "$out"/*.mp4
echo "the worker's log (JSON lines) is $out/worker.log"
[ "$failed" -eq 0 ]
