#!/usr/bin/env bash
# How long `reelbox exec -- /bin/true` takes to start against bwrap's (issue 16: "cold,
# no pool: at most bwrap's wall time"), both measured in the same run. By hand, not in CI.
#
# The commands run round-robin (reelbox, [the base reelbox,] bwrap, reelbox, ...) so a
# load that comes and goes on a shared machine falls on all of them alike; each run's wall
# time and CPU (user + sys of the command and its children, from wait4) is taken, WARMUP
# rounds are dropped, and a markdown table is printed: p50, p90 and mean wall ms, mean
# CPU ms, runs. docs/capacity.md ("Where `reelbox exec -- /bin/true` spends its start")
# holds the numbers.
#
# Environment: REELBOX_BUILD (default build; the CMake build dir with reelbox in it),
# BASE_BIN (another reelbox binary to compare, e.g. one built from main; optional),
# RUNS (100), WARMUP (10). bwrap's row needs bubblewrap (apt-get install -y bubblewrap).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${REELBOX_BUILD:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
BIN=$BUILD/reelbox
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}

[ -x "$BIN" ] || { echo "exec_start.sh: no $BIN; build first or set REELBOX_BUILD" >&2; exit 2; }
"$BIN" exec -- /bin/true || { echo "exec_start.sh: reelbox exec -- /bin/true fails here" >&2; exit 2; }

args=("reelbox exec" "$BIN" exec -- /bin/true ";;")
if [ -n "${BASE_BIN:-}" ]; then
	"$BASE_BIN" exec -- /bin/true || { echo "exec_start.sh: $BASE_BIN exec fails" >&2; exit 2; }
	args+=("base: reelbox exec" "$BASE_BIN" exec -- /bin/true ";;")
fi
if command -v bwrap >/dev/null; then
	# The same as bench/capacity.sh's: every namespace, /usr read-only, /proc and /dev.
	args+=(bwrap bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin
		--symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev /bin/true ";;")
else
	echo "exec_start.sh: bwrap not installed (apt-get install -y bubblewrap): its row is left out" >&2
fi

echo "reelbox: $BIN ($(ldd "$BIN" | wc -l) lines of ldd); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RUNS" "$WARMUP" "${args[@]}" <<'PY'
import os, statistics, subprocess, sys, time

runs, warmup = int(sys.argv[1]), int(sys.argv[2])
cmds, rest = [], sys.argv[3:]
while rest:
    end = rest.index(";;")  # each command ends at ";;" (theirs hold "--")
    cmds.append((rest[0], rest[1:end]))
    rest = rest[end + 1:]
wall = {name: [] for name, _ in cmds}
cpu = {name: [] for name, _ in cmds}
for i in range(warmup + runs):
    for name, argv in cmds:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        t = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"exec_start.sh: {name} failed (status {status})")
        if i >= warmup:
            wall[name].append(t * 1e3)
            cpu[name].append((ru.ru_utime + ru.ru_stime) * 1e3)

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

print()
print("| command | wall p50 ms | wall p90 ms | wall mean ms | CPU mean ms | runs |")
print("|---|---:|---:|---:|---:|---:|")
for name, _ in cmds:
    w = wall[name]
    print(f"| {name} | {pct(w, 0.5):.1f} | {pct(w, 0.9):.1f} | {statistics.mean(w):.1f} "
          f"| {statistics.mean(cpu[name]):.1f} | {len(w)} |")
PY
