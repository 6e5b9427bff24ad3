#!/usr/bin/env bash
# What one sandbox costs (issue 16, "the cost question"), measured on this machine in one
# run; docs/capacity.md ("One sandbox per user") holds the numbers and the model built on
# them. By hand, not in CI: it holds up to 1000 sandboxes at once (about 2 GB) and takes a
# few minutes of both cores.
#
#   1. start-up baselines: `bwrap --unshare-all ... /bin/true` and `reelbox exec --
#      /bin/true` (hyperfine -N when installed), and reelbox's own start-to-purge of that
#      sandbox without the process around it (sandbox_start, wait, sandbox_destroy);
#   2. N idle sandboxes held by ONE process with the worker's spec (bench/capacity_hold.c,
#      built here from the build dir's own link line): sh ones (`read x` on a held
#      stdin) at 100, 500, 1000; warm python ones (numpy and PIL.Image imported, waiting on
#      stdin, as a pool member would) at 100 and, when memory allows it safely, 500. For
#      each: user memory (Pss/Rss of every sandbox process from smaps_rollup), kernel
#      memory (/proc/meminfo Slab, SUnreclaim, KernelStack, PageTables before and with
#      all N up; the sandboxes' memory cgroups), processes, threads, fds inside and the
#      holder's fds, create/ready/destroy time per sandbox (p50, p95), and whether the
#      machine got its memory back after;
#   3. a running tiny render job (`reelbox run`, 64x48, numpy) sampled mid-run: sandbox,
#      encoder and the supervisor;
#   4. 20 `reelbox exec` processes holding one idle sandbox each: the cost of one
#      supervisor process per sandbox, which the holder of step 2 does not pay.
# Writes OUT/capacity.csv (section,kind,n,metric,value,unit), OUT/capacity.md (tables) and,
# with python3-matplotlib (apt-get install -y python3-matplotlib), OUT/capacity.png.
#
# Environment: REELBOX_BUILD (default build; the CMake build dir with reelbox in it),
# OUT (default bench/out), PLAN (default sh:100,sh:500,sh:1000,python:100,python:500?;
# "?" = only if MemAvailable keeps 4 GiB free), RUNS (100) and WARMUP (10) for step 1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${REELBOX_BUILD:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
BIN=$BUILD/reelbox
OUT=${OUT:-$HERE/out}
PLAN=${PLAN:-sh:100,sh:500,sh:1000,python:100,python:500?}
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

[ -x "$BIN" ] || { echo "capacity: no reelbox in $BUILD (REELBOX_BUILD)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/capacity.csv" "$OUT/capacity.md" "$OUT"/hold-*
echo "section,kind,n,metric,value,unit" >"$OUT/capacity.csv"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-capacity.XXXXXX")
cleanup() {
	rm -rf "$TMP"
}
trap cleanup EXIT

# The holder links the worker's library exactly as reelbox does: the build dir's own
# compile flags and link line, with bench/capacity_hold.c in place of worker/main.c.
echo "building bench/capacity_hold.c against $BUILD"
flags=$(sed -n 's/^C_FLAGS = //p' "$BUILD/CMakeFiles/reelbox.dir/flags.make")
incs=$(sed -n 's/^C_INCLUDES = //p' "$BUILD/CMakeFiles/reelbox.dir/flags.make")
# shellcheck disable=SC2086
cc $flags $incs -I"$SRC/sandbox" -I"$SRC/render" -I"$SRC/queue" \
	-c "$HERE/capacity_hold.c" -o "$TMP/capacity_hold.o"
link=$(cat "$BUILD/CMakeFiles/reelbox.dir/link.txt")
link=${link/CMakeFiles\/reelbox.dir\/worker\/main.c.o/$TMP\/capacity_hold.o}
link=${link/-o reelbox/-o $TMP\/capacity_hold}
(cd "$BUILD" && eval "$link")

# What the host lets 1000 sandboxes have. Nothing is raised but the holder's soft fd
# limit when it is too low: each sandbox is one user, mount, pid, ipc, uts, net and
# cgroup namespace (max_*_namespaces), 2 processes (pid_max, threads-max) and 15
# descriptors in the holder.
echo "limits: $(nproc) cores; $(awk '/MemTotal|MemAvailable/ {printf "%s %.1f GiB; ", $1, $2/1048576}' /proc/meminfo)"
for f in /proc/sys/user/max_user_namespaces /proc/sys/user/max_mnt_namespaces \
	/proc/sys/user/max_pid_namespaces /proc/sys/user/max_net_namespaces \
	/proc/sys/kernel/pid_max /proc/sys/kernel/threads-max; do
	printf '  %s = %s\n' "$f" "$(cat "$f")"
done
echo "  ulimit -n = $(ulimit -n), ulimit -u = $(ulimit -u)"
max_n=$(echo "$PLAN" | tr ',' '\n' | sed 's/.*://; s/?//' | sort -n | tail -1)
need_fds=$((max_n * 16 + 64))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
	# The holder keeps 15 descriptors per sandbox on cgroup v1 (10 of them cgroup
	# directories): raise the soft limit for this run only, the one limit it raises.
	ulimit -n "$need_fds" 2>/dev/null || echo "  warning: ulimit -n below $need_fds" >&2
fi

echo
echo "1. start-up: /bin/true, $RUNS runs each after $WARMUP warm-up"
BWRAP=(bwrap --unshare-all --die-with-parent --ro-bind /usr /usr)
for d in bin lib lib64 sbin; do
	if [ -L "/$d" ]; then
		BWRAP+=(--symlink "$(readlink "/$d")" "/$d")
	elif [ -d "/$d" ]; then
		BWRAP+=(--ro-bind "/$d" "/$d")
	fi
done
BWRAP+=(--proc /proc --dev /dev /bin/true)
if command -v bwrap >/dev/null; then
	measure "$RUNS" "$WARMUP" "$TMP/bwrap.times" "${BWRAP[@]}"
else
	echo "  bwrap not installed (apt-get install -y bubblewrap): its row is left out"
fi
measure "$RUNS" "$WARMUP" "$TMP/exec.times" "$BIN" exec -- /bin/true
"$TMP/capacity_hold" true 10 "$TMP/cycle.warm"
"$TMP/capacity_hold" true "$RUNS" "$TMP/cycle.txt"
python3 - "$TMP" "$OUT" <<'PY'
import math, os, sys
tmp, out = sys.argv[1:3]
def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]
rows, md = [], ["| /bin/true, wall ms | p50 | p95 | p99 |", "|---|---|---|---|"]
def add(kind, label, xs):
    for p in (50, 95, 99):
        rows.append(f"startup,{kind},{len(xs)},p{p},{pct(xs, p):.3f},ms")
    md.append(f"| {label} | {pct(xs, 50):.2f} | {pct(xs, 95):.2f} | {pct(xs, 99):.2f} |")
if os.path.exists(f"{tmp}/bwrap.times"):
    add("bwrap", "`bwrap --unshare-all ... /bin/true`",
        [float(x) * 1e3 for x in open(f"{tmp}/bwrap.times")])
add("exec", "`reelbox exec -- /bin/true`", [float(x) * 1e3 for x in open(f"{tmp}/exec.times")])
cyc = [[float(v) for v in l.split()[1:]] for l in open(f"{tmp}/cycle.txt")]
add("cycle_total", "reelbox's own start-to-purge (sandbox_start + wait + sandbox_destroy)",
    [sum(c) for c in cyc])
add("cycle_start", "... of which sandbox_start", [c[0] for c in cyc])
add("cycle_wait", "... of which init + /bin/true until reaped", [c[1] for c in cyc])
add("cycle_destroy", "... of which sandbox_destroy (purge)", [c[2] for c in cyc])
open(f"{out}/capacity.csv", "a").write("\n".join(rows) + "\n")
open(f"{out}/capacity.md", "a").write("\n".join(md) + "\n\n")
print("\n".join(md))
PY

echo
echo "2-4. idle sandboxes ($PLAN), a running job, one reelbox exec per sandbox"
python3 "$HERE/capacity.py" "$TMP/capacity_hold" "$BIN" "$OUT" "$PLAN"

if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	/usr/bin/python3 "$HERE/capacity_plot.py" "$OUT/capacity.csv" "$OUT/capacity.png"
else
	echo "no matplotlib (apt-get install -y python3-matplotlib): no plot"
fi
echo "results: $OUT/capacity.csv $OUT/capacity.md"
