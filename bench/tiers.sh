#!/usr/bin/env bash
# Tier benchmark (issue 17), run by hand, not in CI: what the gvisor tier costs against
# the native one, measured on this host, beside gVisor's own `runsc do` and the published
# start-up figures the issue cites. Four measures, each in both tiers:
#
#   1. start-to-purge: `reelbox exec [--tier gvisor] -- /bin/true`, the whole life of a
#      sandbox (state dir, cgroup, start, reap, purge); beside it `runsc --network=none do
#      /bin/true` (gVisor alone, no reelbox), docker run (~1.2 s) and gVisor's runsc
#      (~1.1 s), the published start-up figures;
#   2. python3 with numpy imported: `exec -- python3 -c 'import numpy'`, a render
#      script's floor;
#   3. tiny-job throughput: N jobs (64x48, 10 frames, a numpy script) through `reelbox
#      run`, 2 at a time (the machine's 2 cores), jobs/s;
#   4. the 720p encode: bench/numpy_720p.py, 1280x720, 300 frames, --cpus 2, wall time;
#      and the same frames written by an os.write loop that takes short writes (runsc
#      cuts writes to a host pipe short; reelbox-init relays them whole, and the two rows
#      show that the way a script writes makes no difference).
#
# Prints a markdown table (measure | native | gvisor | gvisor/native | reference); save it
# with `bash bench/tiers.sh | tee bench/tiers_results.md`. Run it on a quiet machine
# (`uptime`): gVisor's ptrace platform pays for every system call in context switches.
#
# Environment: REELBOX_BIN (default build/reelbox), RUNS (start-up runs, default 20),
# JOBS (tiny jobs per tier, default 16), ENCODE_RUNS (default 2).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
RUNS=${RUNS:-20}
JOBS=${JOBS:-16}
ENCODE_RUNS=${ENCODE_RUNS:-2}
RUNSC=${RUNSC:-/usr/bin/runsc}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "tiers.sh: no reelbox at $BIN (build it, or set REELBOX_BIN)" >&2; exit 2; }
if ! why=$("$BIN" exec --tier gvisor -- /bin/true 2>&1 >/dev/null); then
	echo "tiers.sh: the gvisor tier cannot start here: $why" >&2
	exit 2
fi
info=$("$BIN" posture --tier gvisor 2>/dev/null | sed -n 's/.*tier gvisor (\(.*\)):$/\1/p' || true)

# try_measure NAME RUNS WARMUP CMD...: measure into NAME.times; when a run fails, NAME.failed
# holds the command's last line of stderr from one more run instead, and the table says so.
try_measure() {
	local name=$1 runs=$2 warmup=$3
	shift 3
	measure "$runs" "$warmup" "$TMP/$name.times" "$@" 2>/dev/null && return
	rm -f "$TMP/$name.times"
	"$@" 2>&1 >/dev/null | tail -n 1 | cut -c1-160 >"$TMP/$name.failed" || true
}

cat >"$TMP/tiny.py" <<'PY'
import os, sys
import numpy as np
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
ramp = np.arange(w * h * 3, dtype=np.uint32).reshape(h, w, 3)
for i in range(n):
    sys.stdout.buffer.write(((ramp + 7 * i) & 255).astype(np.uint8).tobytes())
PY

# numpy_720p.py with each frame written by an os.write loop that takes short writes, in
# both tiers alike: beside the script as is, it shows whether the way a script writes
# changes the gvisor tier's cost (a frame written whole once arrived cut short there)
python3 - "$HERE/numpy_720p.py" >"$TMP/numpy_720p_loop.py" <<'PY'
import sys
src = open(sys.argv[1]).read()
loop = "def _write_all(b):\n    v = memoryview(b)\n    while v:\n        v = v[os.write(1, v):]\n\n\ndef main():"
assert "out.write(frame(n).tobytes())" in src and "def main():" in src
print(src.replace("def main():", loop, 1).replace("out.write(frame(n).tobytes())", "_write_all(frame(n).tobytes())"))
PY

echo "tiers: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); gvisor: ${info:-?}" >&2
for tier in native gvisor; do
	echo "  1. start-to-purge, $tier: $RUNS runs" >&2
	try_measure "start-$tier" "$RUNS" 2 "$BIN" exec --tier "$tier" -- /bin/true
	echo "  2. python3 + numpy, $tier: $((RUNS / 2)) runs" >&2
	try_measure "numpy-$tier" $((RUNS / 2)) 1 "$BIN" exec --tier "$tier" -- \
		/usr/bin/python3 -c 'import numpy'
	echo "  3. tiny jobs, $tier: $JOBS, 2 at a time" >&2
	t0=$(date +%s.%N)
	if seq "$JOBS" | xargs -P 2 -I{} "$BIN" run --tier "$tier" --size 64x48 --fps 10 --frames 10 \
		-o "$TMP/tiny-$tier-{}.mp4" "$TMP/tiny.py" 2>"$TMP/tiny-$tier.err"; then
		echo "$(date +%s.%N) $t0" | awk -v n="$JOBS" '{ printf "%.6f\n", n / ($1 - $2) }' >"$TMP/tiny-$tier.rate"
	else
		grep -h 'reelbox' "$TMP/tiny-$tier.err" | tail -n 1 | cut -c1-160 >"$TMP/tiny-$tier.failed"
	fi
	echo "  4. 720p encode, $tier: $ENCODE_RUNS runs of each script" >&2
	for v in "encode:$HERE/numpy_720p.py" "loop:$TMP/numpy_720p_loop.py"; do
		try_measure "${v%%:*}-$tier" "$ENCODE_RUNS" 0 "$BIN" run --tier "$tier" --size 1280x720 \
			--fps 30 --frames 300 --cpus 2 --preset veryfast --crf 23 --timeout 300 \
			-o "$TMP/encode-$tier.mp4" "${v#*:}"
	done
done
if [ "$(id -u)" = 0 ] && [ -x "$RUNSC" ]; then
	echo "  runsc --network=none do /bin/true: $RUNS runs" >&2
	# runsc do builds its own throwaway root under --root; nothing of reelbox
	try_measure runsc-do "$RUNS" 2 "$RUNSC" --root "$TMP/runsc-root" --network=none do /bin/true
fi

python3 - "$TMP" "$JOBS" "$info" <<'EOF2'
import math, os, statistics, sys
tmp, jobs, info = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def times(name):
    try:
        return sorted(float(x) for x in open(os.path.join(tmp, name + ".times")))
    except OSError:
        return None

def failed(name):
    try:
        return "failed: " + open(os.path.join(tmp, name + ".failed")).read().strip().replace("|", "/")
    except OSError:
        return "n/a"

def p(ts, q):
    return ts[max(0, math.ceil(q / 100 * len(ts)) - 1)]

def ms(ts, name=""):
    return "%.0f ms (p90 %.0f)" % (1000 * p(ts, 50), 1000 * p(ts, 90)) if ts else failed(name)

def rate(t):
    try:
        return float(open(os.path.join(tmp, "tiny-%s.rate" % t)).read())
    except (OSError, ValueError):
        return None

rows = []
for key, label in (("start", "start-to-purge: exec -- /bin/true"),
                   ("numpy", "exec -- python3 -c 'import numpy'")):
    n, g = times(key + "-native"), times(key + "-gvisor")
    ratio = "%.1fx" % (p(g, 50) / p(n, 50)) if n and g else "n/a"
    ref = ""
    if key == "start":
        do = times("runsc-do")
        ref = "runsc --network=none do /bin/true: %s; published: docker run ~1.2 s, gVisor runsc ~1.1 s" % (
            ms(do, "runsc-do"))
    rows.append((label, ms(n, key + "-native"), ms(g, key + "-gvisor"), ratio, ref))
rn, rg = rate("native"), rate("gvisor")
rows.append(("tiny jobs (64x48, 10 frames, numpy), 2 at a time, %d jobs" % jobs,
             "%.2f jobs/s" % rn if rn else failed("tiny-native"),
             "%.2f jobs/s" % rg if rg else failed("tiny-gvisor"),
             "%.1fx the time" % (rn / rg) if rn and rg else "n/a", ""))
for key, label, ref in (
        ("encode", "720p encode (bench/numpy_720p.py as is, 300 frames, --cpus 2)", "frames written whole by sys.stdout.buffer"),
        ("loop", "720p encode, the same frames written by an os.write loop", "the encoder runs natively in both tiers; only the script is in gVisor")):
    en, eg = times(key + "-native"), times(key + "-gvisor")
    rows.append((label,
                 "%.1f s" % statistics.median(en) if en else failed(key + "-native"),
                 "%.1f s" % statistics.median(eg) if eg else failed(key + "-gvisor"),
                 "%.2fx" % (statistics.median(eg) / statistics.median(en)) if en and eg else "n/a", ref))
print("| measure | native | gvisor (%s) | gvisor / native | reference |" % (info or "?"))
print("|---|---|---|---|---|")
for r in rows:
    print("| %s |" % " | ".join(r))
EOF2
