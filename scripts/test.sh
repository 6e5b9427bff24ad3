#!/bin/bash
# Installs what reelbox needs, builds it twice (Release with -Werror, and ASan+UBSan),
# checks the code's shape on the Release objects (scripts/check_cycles.py: no two files
# that call each other, no function over 80 lines) and runs every test: the unit tests
# under both builds, the integration tests (real sandbox, real encodes checked with
# ffprobe, a real redis-server) under Release, and then each libFuzzer target
# (scripts/fuzz.sh) for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
echo "== build: Release, -Werror"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DREELBOX_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

echo "== build: ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DREELBOX_SANITIZE=ON -DREELBOX_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"

status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "== shape: file-level call cycles and long functions (scripts/check_cycles.py)"
python3 scripts/check_cycles.py build | tee -a "$log" || status=1
echo "== unit tests (Release)"
(cd build && ctest -L unit --output-on-failure --timeout 600) | tee -a "$log" || status=1
echo "== unit tests (ASan+UBSan)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest -L unit --output-on-failure --timeout 900) | tee -a "$log" || status=1
echo "== integration tests (Release)"
(cd build && ctest -L integration --output-on-failure) | tee -a "$log" || status=1
echo "== fuzz: libFuzzer targets, ${FUZZ_SECONDS:-20}s each (scripts/fuzz.sh)"
bash scripts/fuzz.sh | tee -a "$log" || status=1

# One closing line over the shape check, the three ctest runs and the fuzz run: each
# prints "N tests failed out of M" (the shape check counts two tests, cycles and function
# length; fuzz.sh one per target).
# The integration suites' failed checks, repeated last: a CI page that shows only the
# head and the tail of a long log still names them.
if grep -q '^FAIL ' "$log"; then
	echo "== failed checks"
	grep '^FAIL ' "$log" | cut -c1-400 | head -20
fi
read -r failed total < <(awk '/tests failed out of/ { f += $(NF-5); t += $NF } END { print f+0, t+0 }' "$log")
echo "reelbox: $((total - failed)) passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$total" -eq 0 ]; then
	exit 1
fi
