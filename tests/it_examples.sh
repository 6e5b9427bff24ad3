#!/usr/bin/env bash
# Integration test: every script in examples/ rendered through `reelbox run`, the way a
# user would, then checked from the outside with ffprobe and ffmpeg:
#   - codec, size, frame count (decoded, not from the header), pix_fmt for MP4;
#   - MP4 moov atom before mdat (+faststart);
#   - pixel fidelity: PSNR of the decoded video against the frames the same script
#     writes when it runs without any sandbox;
# plus the contract's edges of `reelbox run`: --json agrees with the file, the frame
# count is a ceiling, a failing or malformed script exits 1 and leaves no file, a usage
# error exits 2.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default: the
# repository holding this file), REELBOX_IT_KEEP=1 keeps the work dir for inspection,
# REELBOX_TIER=gvisor renders every example in the gvisor tier with the same checks and
# PSNR floors, and stops there: the rest is `run`'s contract, the same in every tier
# (tests/it_examples_gvisor.sh).
# Prints one PASS/FAIL line per check and ends with "N passed, M failed".
set -euo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

W=320
H=240
FPS=10
FRAMES=20
PSNR_MIN_LOSSY=30 # dB, average over Y/U/V, MP4 and WebM at the default crf
PSNR_MIN_GIF=25   # dB, average over R/G/B; a 256-colour palette with dithering
TIMEOUT=300       # seconds for any one reelbox command; a hang is a failure
TIER=${REELBOX_TIER:-native}

passed=0
failed=0
pass() {
	printf 'PASS %s\n' "$*"
	passed=$((passed + 1))
}
fail() {
	printf 'FAIL %s\n' "$*"
	failed=$((failed + 1))
}
# expect DESCRIPTION ACTUAL EXPECTED
expect() {
	if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}
indent() { sed 's/^/    /'; }

for tool in ffmpeg ffprobe python3 sha256sum timeout; do
	command -v "$tool" >/dev/null || {
		echo "it_examples: $tool is required (scripts/install-deps.sh installs it)" >&2
		exit 1
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	echo "$passed passed, $failed failed"
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-it.XXXXXX")
if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then
	echo "it_examples: keeping $WORK"
else
	trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/out" "$WORK/ref" "$WORK/scripts"
cd "$WORK"

# The interpreter the reference (unsandboxed) run uses, by extension: the same the
# runtime table maps the extension to. Empty when the machine lacks it.
interpreter() {
	case $1 in
	*.py) echo /usr/bin/python3 ;;
	*.sh) echo /bin/sh ;;
	*.js) command -v node || true ;;
	*.lua) command -v lua || command -v lua5.4 || true ;;
	esac
}

# ref_run SCRIPT STEM: runs SCRIPT outside any sandbox with the environment the contract
# promises, writes its stream to ref/STEM.stream, and the frames as raw rgb24 to
# ref/STEM.rgb and as yuv420p (BT.601 limited, or the script's own planes for Y4M) to
# ref/STEM.yuv. Sets REF_KIND to raw, y4m or ppm.
ref_run() {
	local script=$1 stem=$2 interp scratch magic
	interp=$(interpreter "$script")
	scratch=$(mktemp -d "$WORK/scratch.XXXXXX")
	(cd "$scratch" && env -i WIDTH=$W HEIGHT=$H FPS=$FPS FRAMES=$FRAMES PIX_FMT=rgb24 \
		SCRATCH="$scratch" HOME="$scratch" LANG=C.UTF-8 PATH=/usr/bin:/bin \
		"$interp" "$script" >"$WORK/ref/$stem.stream" 2>"$WORK/ref/$stem.log") || return 1
	rm -rf "$scratch"
	magic=$(head -c 10 "ref/$stem.stream" | tr -d '\0')
	local in
	case $magic in
	"YUV4MPEG2 ")
		REF_KIND=y4m
		in=(-f yuv4mpegpipe -i "ref/$stem.stream")
		;;
	P6*)
		REF_KIND=ppm
		in=(-f image2pipe -c:v ppm -framerate "$FPS" -i "ref/$stem.stream")
		;;
	*)
		REF_KIND=raw
		in=(-f rawvideo -pix_fmt rgb24 -s "${W}x$H" -framerate "$FPS" -i "ref/$stem.stream")
		;;
	esac
	ffmpeg -nostdin -v error -y "${in[@]}" -fps_mode passthrough \
		-f rawvideo -pix_fmt rgb24 "ref/$stem.rgb" || return 1
	if [ $REF_KIND = y4m ]; then
		ffmpeg -nostdin -v error -y "${in[@]}" -fps_mode passthrough \
			-f rawvideo -pix_fmt yuv420p "ref/$stem.yuv" || return 1
	fi
}

# ref_yuv STEM MATRIX RANGE: the reference frames in yuv420p with the colour matrix and
# range the encoded file declares, so a file tagged BT.709 is compared like for like.
ref_yuv() {
	local stem=$1 matrix=$2 range=$3
	if [ "$REF_KIND" = y4m ]; then
		cp "ref/$stem.yuv" "ref/$stem.cmp.yuv"
		return
	fi
	ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt rgb24 -s ${W}x$H -i "ref/$stem.rgb" \
		-vf "scale=out_color_matrix=$matrix:out_range=$range,format=yuv420p" \
		-f rawvideo "ref/$stem.cmp.yuv"
}

# psnr PIX_FMT A B: average PSNR in dB of two raw files of WxH frames ("inf" if equal).
psnr() {
	ffmpeg -nostdin -hide_banner -nostats \
		-f rawvideo -pix_fmt "$1" -s ${W}x$H -i "$2" \
		-f rawvideo -pix_fmt "$1" -s ${W}x$H -i "$3" \
		-lavfi psnr -f null - 2>&1 | sed -n 's/.*PSNR.* average:\([0-9.]*\|inf\) .*/\1/p' | tail -1 ||
		true
}

# at_least VALUE MIN: true when VALUE (a number or "inf") is >= MIN.
at_least() {
	[ -n "$1" ] && awk -v v="$1" -v m="$2" 'BEGIN { exit !(v == "inf" || v + 0 >= m + 0) }'
}

# moov_before_mdat FILE: walks the top-level MP4 boxes; true when moov comes first.
moov_before_mdat() {
	python3 - "$1" <<'EOF'
import struct, sys
order = []
with open(sys.argv[1], "rb") as f:
    f.seek(0, 2)
    end = f.tell()
    pos = 0
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
        elif size == 0:
            size = end - pos
        if size < 8:
            sys.exit("bad box size %d at %d" % (size, pos))
        order.append(kind.decode("latin-1"))
        pos += size
print(" ".join(order), file=sys.stderr)
sys.exit(0 if "moov" in order and "mdat" in order and order.index("moov") < order.index("mdat") else 1)
EOF
}

# probe FILE: sets P_codec_name, P_width, P_height, P_pix_fmt, P_nb_read_frames,
# P_color_space, P_color_range from the first video stream, frames counted by decoding.
probe() {
	local key val
	P_codec_name='' P_width='' P_height='' P_pix_fmt='' P_nb_read_frames='' P_color_space='' P_color_range=''
	while IFS='=' read -r key val; do
		case $key in
		codec_name | width | height | pix_fmt | nb_read_frames | color_space | color_range)
			printf -v "P_$key" '%s' "$val"
			;;
		esac
	done < <(ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=codec_name,width,height,pix_fmt,nb_read_frames,color_space,color_range \
		-of default=noprint_wrappers=1 "$1")
}

# reelbox_run LOG ARGS...: `reelbox run` with a time limit, stderr to LOG; returns its
# exit status.
reelbox_run() {
	local log=$1
	shift
	local rc=0
	if [ "$TIER" = native ]; then
		timeout "$TIMEOUT" "$BIN" run "$@" 2>"$log" || rc=$?
	else
		timeout "$TIMEOUT" "$BIN" run --tier "$TIER" "$@" 2>"$log" || rc=$?
	fi
	return $rc
}

# render_and_check SCRIPT EXT: renders SCRIPT to out/STEM.EXT and checks the result.
render_and_check() {
	local script=$1 ext=$2 stem name out codec rc=0
	stem=$(basename "${script%.*}")
	name="$(basename "$script") -> .$ext"
	out=$WORK/out/$stem.$ext
	case $ext in mp4) codec=h264 ;; webm) codec=vp9 ;; gif) codec=gif ;; esac

	reelbox_run "out/$stem.$ext.log" --size ${W}x$H --fps $FPS --frames $FRAMES \
		-o "$out" "$script" || rc=$?
	if [ $rc -ne 0 ] || [ ! -s "$out" ]; then
		fail "$name: reelbox run exited $rc, output $( [ -s "$out" ] && echo present || echo missing)"
		tail -n 20 "out/$stem.$ext.log" | indent
		return
	fi
	pass "$name: reelbox run exited 0"

	probe "$out"
	expect "$name: codec" "$P_codec_name" "$codec"
	expect "$name: size" "${P_width}x$P_height" "${W}x$H"
	expect "$name: decoded frames" "$P_nb_read_frames" "$FRAMES"
	if [ "$ext" = mp4 ]; then
		expect "$name: pix_fmt" "$P_pix_fmt" yuv420p
		local boxes
		if boxes=$(moov_before_mdat "$out" 2>&1); then
			pass "$name: moov before mdat ($boxes)"
		else
			fail "$name: moov not before mdat (top-level boxes: $boxes)"
		fi
	fi

	# Pixel fidelity. Lossy codecs are compared in yuv420p, the space they encode, with
	# the reference converted by the matrix the file declares: this measures the encode
	# and catches swapped channels, wrong matrix or range, shifted or repeated frames,
	# without charging reelbox for ffmpeg's own RGB round-trip. GIF is compared in RGB.
	local value min space
	if [ "$ext" = gif ]; then
		ffmpeg -nostdin -v error -y -i "$out" -fps_mode passthrough \
			-f rawvideo -pix_fmt rgb24 "out/$stem.$ext.rgb" || true
		value=$(psnr rgb24 "out/$stem.$ext.rgb" "ref/$stem.rgb")
		min=$PSNR_MIN_GIF
		space=rgb24
	else
		local matrix=bt601 range=tv
		[ "$P_color_space" = bt709 ] && matrix=bt709
		[ "$P_color_range" = pc ] && range=pc
		ref_yuv "$stem" "$matrix" "$range" || true
		ffmpeg -nostdin -v error -y -i "$out" -fps_mode passthrough \
			-f rawvideo -pix_fmt yuv420p "out/$stem.$ext.yuv" || true
		value=$(psnr yuv420p "out/$stem.$ext.yuv" "ref/$stem.cmp.yuv")
		min=$PSNR_MIN_LOSSY
		space="yuv420p $matrix/$range"
	fi
	if at_least "$value" "$min"; then
		pass "$name: PSNR ${value} dB >= $min vs unsandboxed run ($space)"
	else
		fail "$name: PSNR '${value}' dB < $min vs unsandboxed run ($space)"
	fi
}

# ---------------------------------------------------------------------------------
# Every example, to MP4; one to WebM and one to GIF as well.

shopt -s nullglob
examples=()
for f in "$SRC"/examples/*.py "$SRC"/examples/*.sh "$SRC"/examples/*.js "$SRC"/examples/*.lua; do
	# producer.py is a queue client (tested by it_queue.sh), not a render script.
	[ "$(basename "$f")" = producer.py ] || examples+=("$f")
done
shopt -u nullglob
if [ ${#examples[@]} -ge 6 ]; then
	pass "examples/ holds ${#examples[@]} scripts (at least 6)"
else
	fail "examples/ holds ${#examples[@]} scripts, want at least 6"
fi

for script in "${examples[@]}"; do
	base=$(basename "$script")
	stem=${base%.*}
	if [ -z "$(interpreter "$script")" ]; then
		echo "SKIP $base: no interpreter for it on this machine"
		continue
	fi
	if ref_run "$script" "$stem"; then
		size=$(stat -c %s "ref/$stem.rgb")
		expect "$base: unsandboxed run wrote $FRAMES frames ($REF_KIND)" \
			"$((size / (W * H * 3))).$((size % (W * H * 3)))" "$FRAMES.0"
	else
		fail "$base: unsandboxed reference run failed"
		tail -n 20 "ref/$stem.log" | indent
		continue
	fi
	render_and_check "$script" mp4
	case $stem in
	plasma) render_and_check "$script" webm ;;
	cache_miss) render_and_check "$script" gif ;;
	esac
done
if [ "$TIER" != native ]; then
	echo "$passed passed, $failed failed (examples in the $TIER tier)"
	[ "$failed" -eq 0 ]
	exit
fi

# ---------------------------------------------------------------------------------
# --json: one object on stdout that agrees with the file it describes.

json_out=$WORK/out/json.mp4
rc=0
timeout "$TIMEOUT" "$BIN" run --json --size ${W}x$H --fps $FPS --frames $FRAMES \
	-o "$json_out" "$SRC/examples/plasma.py" >"out/json.stdout" 2>"out/json.log" || rc=$?
expect "--json: exit status" "$rc" 0
if [ -s "$json_out" ]; then
	sum=$(sha256sum "$json_out" | cut -d' ' -f1)
	bytes=$(stat -c %s "$json_out")
	if verdict=$(python3 - "out/json.stdout" "$sum" "$bytes" "$FRAMES" "$W" "$H" "$json_out" 2>&1 <<'EOF'
import json, os, sys
path, sha, size, frames, w, h, out = sys.argv[1:8]
text = open(path).read()
try:
    doc = json.loads(text)  # strict: exactly one JSON value, nothing else on stdout
except ValueError as e:
    sys.exit("stdout is not one JSON object: %s: %r" % (e, text[:200]))
want = {"status": "succeeded", "frames": int(frames), "sha256": sha, "bytes": int(size),
        "width": int(w), "height": int(h)}
bad = ["%s=%r (want %r)" % (k, doc.get(k), v) for k, v in want.items() if doc.get(k) != v]
if not isinstance(doc.get("output"), str) or not os.path.exists(doc["output"]) \
        or not os.path.samefile(doc["output"], out):
    bad.append("output=%r (want %s)" % (doc.get("output"), out))
if bad:
    sys.exit("; ".join(bad))
print("status, frames, sha256, bytes, size and output match")
EOF
	); then
		pass "--json: $verdict"
	else
		fail "--json: $verdict"
	fi
else
	fail "--json: no output file"
	tail -n 20 out/json.log | indent
fi

# ---------------------------------------------------------------------------------
# The frame count is a ceiling: a script that never stops still yields FRAMES frames.

cat >scripts/endless.py <<'EOF'
import os, sys
w, h = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
n = 0
while True:  # ignores FRAMES on purpose
    sys.stdout.buffer.write(bytes([n % 256]) * (w * h * 3))
    n += 1
EOF
rc=0
reelbox_run out/endless.log --size ${W}x$H --fps $FPS --frames $FRAMES \
	-o "$WORK/out/endless.mp4" "$WORK/scripts/endless.py" || rc=$?
expect "endless script: exit status" "$rc" 0
if [ -s "$WORK/out/endless.mp4" ]; then
	probe "$WORK/out/endless.mp4"
	expect "endless script: frames capped at --frames" "$P_nb_read_frames" "$FRAMES"
else
	fail "endless script: no output file"
	tail -n 20 out/endless.log | indent
fi

# ---------------------------------------------------------------------------------
# Failing jobs exit 1 and leave nothing behind: not the output, not a temporary file.

cat >scripts/crashes.py <<'EOF'
import os, sys
w, h = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
sys.stdout.buffer.write(b"\x80" * (w * h * 3 * 2))
sys.stdout.buffer.flush()
print("it_examples-marker: giving up", file=sys.stderr)
sys.exit(3)
EOF
cat >scripts/half_frame.py <<'EOF'
import os, sys
w, h = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
sys.stdout.buffer.write(b"\x80" * (w * h * 3 * 3 // 2))
EOF
cat >scripts/chatty.py <<'EOF'
import os, sys
w, h = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"])
print("rendering...")  # the classic mistake: text on stdout
sys.stdout.buffer.write(b"\x80" * (w * h * 3))
EOF
cat >scripts/silent.sh <<'EOF'
echo "nothing to see" >&2
EOF

for case_ in crashes.py half_frame.py chatty.py silent.sh; do
	dir=$WORK/fail-${case_%.*}
	mkdir -p "$dir"
	rc=0
	reelbox_run "out/$case_.log" --size ${W}x$H --fps $FPS --frames $FRAMES \
		-o "$dir/out.mp4" "$WORK/scripts/$case_" || rc=$?
	expect "$case_: exit status" "$rc" 1
	left=$(ls -A "$dir")
	if [ -z "$left" ]; then
		pass "$case_: no file left in the output dir"
	else
		fail "$case_: left behind: $left"
	fi
done

rc=0
timeout "$TIMEOUT" "$BIN" run --json --size ${W}x$H --fps $FPS --frames $FRAMES \
	-o "$WORK/fail-crashes/json.mp4" "$WORK/scripts/crashes.py" >out/crash-json.stdout 2>/dev/null || rc=$?
expect "crashes.py --json: exit status" "$rc" 1
if verdict=$(python3 - out/crash-json.stdout 2>&1 <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)
except ValueError as e:
    sys.exit("stdout is not one JSON object: %s: %r" % (e, text[:200]))
bad = []
if doc.get("status") != "failed":
    bad.append("status=%r" % doc.get("status"))
if doc.get("exit_code") != 3:
    bad.append("exit_code=%r (want 3)" % doc.get("exit_code"))
if not doc.get("error"):
    bad.append("error is empty")
if "it_examples-marker" not in (doc.get("log") or ""):
    bad.append("log tail lacks the script's stderr")
if bad:
    sys.exit("; ".join(bad))
print("status failed, exit_code 3, error and log tail present")
EOF
); then
	pass "crashes.py --json: $verdict"
else
	fail "crashes.py --json: $verdict"
fi

# ---------------------------------------------------------------------------------
# A script's stderr cannot break the summary or reach the terminal: ill-formed UTF-8
# (surrogate, overlong, above U+10FFFF, F5..FF, lone continuation, cut at the end) and
# escape sequences (ESC and UTF-8-encoded C1) beside a valid stream still give exit 0,
# one valid JSON object with status succeeded, and echoed lines without ESC or C1.

cat >scripts/hostile_stderr.py <<'EOF'
import os, sys
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
err = sys.stderr.buffer
err.write(b"it_examples-hostile: start\n")
err.write(b"surrogate \xed\xa0\x80 overlong \xe0\x80\x80 too-big \xf4\x90\x80\x80 "
          b"\xf5\xff lone \x80\n")
err.write(b"c1-csi \xc2\x9b2J c1-osc \xc2\x9d0;pwned\x07 esc \x1b[2J\x1b]0;title\x1b\\ "
          b"bell \x07 nel \xc2\x85\n")
err.write(b"truncated \xe2\x82")  # no newline: the log ends inside a character
err.flush()
for i in range(n):
    sys.stdout.buffer.write(bytes([i * 10 % 256]) * (w * h * 3))
EOF
rc=0
timeout "$TIMEOUT" "$BIN" run --json --size ${W}x$H --fps $FPS --frames $FRAMES \
	-o "$WORK/out/hostile_stderr.mp4" "$WORK/scripts/hostile_stderr.py" \
	>out/hostile-json.stdout 2>out/hostile-json.stderr || rc=$?
expect "hostile stderr --json: exit status" "$rc" 0
if verdict=$(python3 - out/hostile-json.stdout out/hostile-json.stderr "$FRAMES" 2>&1 <<'EOF'
import json, re, sys
out, err, frames = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), int(sys.argv[3])
bad = []
try:
    doc = json.loads(out.decode("utf-8"))  # strict: no surrogates, no overlongs
except ValueError as e:
    sys.exit("stdout is not one JSON object in UTF-8: %s: %r" % (e, out[:200]))
if doc.get("status") != "succeeded":
    bad.append("status=%r error=%r" % (doc.get("status"), doc.get("error")))
if doc.get("frames") != frames:
    bad.append("frames=%r (want %d)" % (doc.get("frames"), frames))
log = doc.get("log") or ""
if "it_examples-hostile: start" not in log or "\ufffd" not in log:
    bad.append("log tail lacks the script's lines or U+FFFD: %r" % log[:200])
if re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f]", log.replace("\n", "")):
    bad.append("log tail holds a control character: %r" % log)
if b"[script] it_examples-hostile: start" not in err:
    bad.append("the script's lines were not echoed on stderr")
try:
    err.decode("utf-8")
except ValueError as e:
    bad.append("echoed stderr is not UTF-8: %s" % e)
if re.search(rb"[\x1b\x07]|\xc2[\x80-\x9f]", err):
    bad.append("echoed stderr holds ESC, BEL or a C1 control: %r" % err[:300])
if bad:
    sys.exit("; ".join(bad))
print("status succeeded, valid JSON, U+FFFD in the log, no ESC/BEL/C1 echoed")
EOF
); then
	pass "hostile stderr --json: $verdict"
else
	fail "hostile stderr --json: $verdict"
	indent <out/hostile-json.stderr | head -n 20 | cat -v
fi

# ---------------------------------------------------------------------------------
# Usage errors exit 2 with a one-line reason, and render nothing.

usage_case() {
	local desc=$1 rc=0 lines
	shift
	mkdir -p "$WORK/usage"
	timeout "$TIMEOUT" "$BIN" run "$@" >/dev/null 2>"$WORK/usage.stderr" || rc=$?
	lines=$(grep -c . "$WORK/usage.stderr" || true)
	if [ $rc -eq 2 ] && [ "$lines" -ge 1 ] && [ -z "$(ls -A "$WORK/usage")" ]; then
		pass "usage error, $desc: exit 2: $(head -n 1 "$WORK/usage.stderr")"
	else
		fail "usage error, $desc: exit $rc (want 2), $lines stderr lines"
		head -n 5 "$WORK/usage.stderr" | indent
	fi
	rm -rf "$WORK/usage"
}
usage_case "unknown option" --no-such-option -o "$WORK/usage/x.mp4" "$SRC/examples/plasma.py"
usage_case "unknown runtime" --runtime no-such-runtime -o "$WORK/usage/x.mp4" "$SRC/examples/plasma.py"
usage_case "odd size" --size 321x240 -o "$WORK/usage/x.mp4" "$SRC/examples/plasma.py"
usage_case "missing script" -o "$WORK/usage/x.mp4" "$WORK/no-such-script.py"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
