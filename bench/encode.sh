#!/usr/bin/env bash
# Encode-path benchmark (issue 2): `reelbox run` on a 1280x720, 300-frame numpy script
# against the same script piped into the ffmpeg CLI with the same encoder settings, run
# without any sandbox. reelbox gets --cpus 2 (the default maximum): its script and its
# encoder each run under the job's cpu quota, and ffmpeg has no quota at all. Prints a side-by-side table with the targets: wall time at most
# 1.0x the pipeline's, output size within 2%. A target, not a test: exits 0 on MISS.
#
# Environment: REELBOX_BIN (default build/reelbox), RUNS (default 3), WARMUP (1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
SCRIPT=$HERE/numpy_720p.py
W=1280 H=720 FPS=30 FRAMES=300 PRESET=veryfast CRF=23
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

pipeline="env -i WIDTH=$W HEIGHT=$H FPS=$FPS FRAMES=$FRAMES PIX_FMT=rgb24 PATH=/usr/bin:/bin \
/usr/bin/python3 '$SCRIPT' | ffmpeg -nostdin -loglevel error -y -f rawvideo -pix_fmt rgb24 \
-s ${W}x$H -r $FPS -i - -c:v libx264 -preset $PRESET -crf $CRF -pix_fmt yuv420p \
-movflags +faststart '$TMP/pipeline.mp4'"

echo "encode path: ${W}x$H, $FRAMES frames, libx264 -preset $PRESET -crf $CRF;" \
	"$RUNS runs each after $WARMUP warm-up, $(nproc) cores"
echo "pipeline: python3 numpy_720p.py | ffmpeg ... (no sandbox)"
measure "$RUNS" "$WARMUP" "$TMP/pipeline.times" bash -o pipefail -c "$pipeline"

if [ -x "$BIN" ]; then
	echo "reelbox:  $BIN run --size ${W}x$H --fps $FPS --cpus 2 --frames $FRAMES --preset $PRESET --crf $CRF"
	measure "$RUNS" "$WARMUP" "$TMP/reelbox.times" "$BIN" run --size ${W}x$H --fps $FPS --cpus 2 \
		--frames $FRAMES --preset $PRESET --crf $CRF -o "$TMP/reelbox.mp4" "$SCRIPT"
else
	echo "reelbox:  not built ($BIN); its column shows n/a"
fi

python3 - "$TMP" <<'EOF2'
import os, statistics, sys
tmp = sys.argv[1]

def load(name):
    try:
        times = [float(x) for x in open(os.path.join(tmp, name + ".times"))]
        size = os.path.getsize(os.path.join(tmp, name + ".mp4"))
        return statistics.median(times), size
    except OSError:
        return None, None

rb_t, rb_b = load("reelbox")
pl_t, pl_b = load("pipeline")
rows = [("metric", "reelbox run", "python3 | ffmpeg", "reelbox/pipe", "target", "result")]
if rb_t is None:
    rows.append(("wall time (median)", "n/a", "%.2f s" % pl_t, "n/a", "<= 1.00x", "n/a"))
    rows.append(("output bytes", "n/a", "%d" % pl_b, "n/a", "within 2%", "n/a"))
else:
    ratio = rb_t / pl_t
    diff = (rb_b - pl_b) / pl_b * 100
    rows.append(("wall time (median)", "%.2f s" % rb_t, "%.2f s" % pl_t, "%.2fx" % ratio,
                 "<= 1.00x", "PASS" if ratio <= 1.0 else "MISS"))
    rows.append(("output bytes", "%d" % rb_b, "%d" % pl_b, "%+.2f%%" % diff,
                 "within 2%", "PASS" if abs(diff) <= 2.0 else "MISS"))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
print()
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
EOF2
