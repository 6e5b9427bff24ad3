#!/bin/bash
# The README's first command: install what reelbox needs, build it, then reproduce the
# talk with `reelbox demo`: prompt jobs through a private redis-server and a worker, a
# local stand-in model replaying the recorded answers of examples/demo (no network, no
# key), the threat scenarios, the checklist judged live, and the page that shows it all:
# ./demo-out/report.html (or $REELBOX_DEMO_OUT/report.html). With REELBOX_MODEL_URL and
# REELBOX_MODEL_KEY set, the worker asks that model instead of the stand-in.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

out=${REELBOX_DEMO_OUT:-$root/demo-out}
exec build/reelbox demo --out "$out"
