#!/usr/bin/env bash
# Sandbox start-up benchmark (issue 2): `reelbox exec -- /bin/true` against bubblewrap
# building a comparable sandbox (every namespace unshared, read-only /usr with Debian's
# merged-usr symlinks, fresh /proc and /dev). Prints p50 and p99 side by side with the
# target: no slower than bwrap. A target, not a test: exits 0 on MISS.
#
# Environment: REELBOX_BIN (default build/reelbox), RUNS (default 200), WARMUP (10).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-10}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# /bin, /lib, /lib64 and /sbin are symlinks into /usr on Debian 12 (merged /usr);
# mirror what the host has so /bin/true resolves the same way inside.
BWRAP=(bwrap --unshare-all --die-with-parent --ro-bind /usr /usr)
for d in bin lib lib64 sbin; do
	if [ -L "/$d" ]; then
		BWRAP+=(--symlink "$(readlink "/$d")" "/$d")
	elif [ -d "/$d" ]; then
		BWRAP+=(--ro-bind "/$d" "/$d")
	fi
done
BWRAP+=(--proc /proc --dev /dev /bin/true)

echo "sandbox start-up: /bin/true, $RUNS runs each after $WARMUP warm-up, $(nproc) cores"
if command -v bwrap >/dev/null; then
	echo "bwrap:   ${BWRAP[*]}"
	measure "$RUNS" "$WARMUP" "$TMP/bwrap.times" "${BWRAP[@]}"
else
	echo "bwrap:   not installed (apt-get install bubblewrap); its column shows n/a"
fi
if [ -x "$BIN" ]; then
	echo "reelbox: $BIN exec -- /bin/true"
	measure "$RUNS" "$WARMUP" "$TMP/reelbox.times" "$BIN" exec -- /bin/true
else
	echo "reelbox: not built ($BIN); its column shows n/a"
fi

python3 - "$TMP" <<'EOF2'
import math, os, sys
tmp = sys.argv[1]

def load(name):
    try:
        return sorted(float(x) for x in open(os.path.join(tmp, name + ".times")))
    except OSError:
        return None

def pct(ts, p):  # nearest rank
    return ts[max(0, math.ceil(p / 100 * len(ts)) - 1)]

rb, bw = load("reelbox"), load("bwrap")
rows = [("percentile", "reelbox exec", "bwrap", "reelbox/bwrap", "target", "result")]
for p in (50, 99):
    a = "%.2f ms" % (pct(rb, p) * 1e3) if rb else "n/a"
    b = "%.2f ms" % (pct(bw, p) * 1e3) if bw else "n/a"
    if rb and bw:
        ratio = pct(rb, p) / pct(bw, p)
        rows.append(("p%d" % p, a, b, "%.2fx" % ratio, "<= 1.00x", "PASS" if ratio <= 1.0 else "MISS"))
    else:
        rows.append(("p%d" % p, a, b, "n/a", "<= 1.00x", "n/a"))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
print()
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
EOF2
