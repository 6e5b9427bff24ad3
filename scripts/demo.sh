#!/bin/bash
# Installs what reelbox needs, builds it, and renders every example script in the
# sandbox into ./demo-out, then says where the videos are.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

out=${REELBOX_DEMO_OUT:-$PWD/demo-out}
mkdir -p "$out"
failed=0
for script in examples/*.py examples/*.sh examples/*.js examples/*.lua; do
	[ -e "$script" ] || continue
	case "$script" in examples/producer.py) continue ;; esac
	stem=$(basename "${script%.*}")
	echo "== $script"
	if ! build/reelbox run --size 640x360 --fps 24 --duration 3 -o "$out/$stem.mp4" "$script"; then
		failed=$((failed + 1))
	fi
done
echo
echo "videos are in $out:"
ls -l "$out"
[ "$failed" -eq 0 ]
