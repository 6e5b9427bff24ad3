#!/usr/bin/env bash
# Integration test: the stream checks (render/checks.c) against two corpora of scripts
# written the way a model answers video prompts, each through a real `reelbox run --json`:
#   - sound scripts: tests/scripts_ok/, plus every example, tests/hostile/ok_* and
#     bench/numpy_720p.py. Each must succeed with no warnings: a false positive is a
#     failure of this test, and the count is printed.
#   - mistakes: tests/scripts_bad/, one per mistake models really make (text on stdout,
#     RGBA or float64 bytes, a (W, H, 3) array, a hard-coded size, a clip never drawn).
#     Each names what must happen in a line "# expect: fails: TEXT" (exit 1, status
#     failed, TEXT in the error, no file) or "# expect: warns: TEXT" (exit 0, TEXT in a
#     warning).
# A line "# reelbox: OPTIONS" in a script adds run options after the defaults
# (--size 320x180 --fps 10 --frames 8). The JSON is checked with python3: the contract's
# `warnings` (a list of sentences) and `frame_cap_hit` (a boolean) are always there.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default: the
# repository holding this file), REELBOX_IT_KEEP=1 keeps the work dir.
# Prints one PASS/FAIL line per check and ends with "N passed, M failed".
set -euo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
DEFAULTS=(--size 320x180 --fps 10 --frames 8 --preset ultrafast --timeout 60)
TIMEOUT=120 # seconds for any one reelbox command; a hang is a failure

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
indent() { sed 's/^/    /'; }

for tool in python3 timeout; do
	command -v "$tool" >/dev/null || {
		echo "it_mistakes: $tool is required" >&2
		exit 1
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	echo "$passed passed, $failed failed"
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-mistakes.XXXXXX")
if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then
	echo "it_mistakes: keeping $WORK"
else
	trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/scripts" "$WORK/out"

# A script's own options ("# reelbox: ...") and expectation ("# expect: ...").
script_options() { sed -n 's/^# reelbox: //p' "$1" | head -n 1; }
script_expect() { sed -n 's/^# expect: //p' "$1" | head -n 1; }

# run_json SCRIPT STEM: `reelbox run --json` with the defaults and the script's options;
# the JSON in out/STEM.json, stderr in out/STEM.log, the exit status in RC.
run_json() {
	local script=$1 stem=$2 opts
	read -r -a opts <<<"$(script_options "$script")"
	RC=0
	timeout "$TIMEOUT" "$BIN" run --json "${DEFAULTS[@]}" "${opts[@]}" \
		-o "$WORK/out/$stem.mp4" "$script" >"$WORK/out/$stem.json" 2>"$WORK/out/$stem.log" ||
		RC=$?
}

# verdict STEM MODE TEXT: checks out/STEM.json (MODE sound, fails or warns); prints the
# reason on stdout and fails when it does not hold.
verdict() {
	python3 - "$WORK/out/$1.json" "$2" "$3" "$RC" "$WORK/out/$1.mp4" <<'EOF'
import json, os, sys
path, mode, text, rc, video = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
raw = open(path).read()
try:
    doc = json.loads(raw)
except ValueError as e:
    sys.exit("stdout is not one JSON object: %s: %r" % (e, raw[:200]))
warnings = doc.get("warnings")
if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
    sys.exit("warnings is not a list of sentences: %r" % (warnings,))
if not isinstance(doc.get("frame_cap_hit"), bool):
    sys.exit("frame_cap_hit is not a boolean: %r" % (doc.get("frame_cap_hit"),))
status, error = doc.get("status"), doc.get("error")
if mode == "sound":
    if rc != 0 or status != "succeeded":
        sys.exit("exit %d, status %s: %s" % (rc, status, error))
    if warnings:
        sys.exit("false positive: %s" % " | ".join(warnings))
    if not os.path.exists(video):
        sys.exit("no video at the output path")
    print("succeeded, no warnings, frame_cap_hit %s" % str(doc["frame_cap_hit"]).lower())
elif mode == "fails":
    if rc != 1 or status != "failed":
        sys.exit("exit %d, status %s, warnings %r (want a failure)" % (rc, status, warnings))
    if text not in (error or ""):
        sys.exit("error %r lacks %r" % (error, text))
    if os.path.exists(video):
        sys.exit("a failed job left a video behind")
    print("failed: %s" % error)
elif mode == "warns":
    if rc != 0 or status != "succeeded":
        sys.exit("exit %d, status %s: %s (want success with a warning)" % (rc, status, error))
    if not any(text in w for w in warnings):
        sys.exit("no warning holds %r: %r" % (text, warnings))
    print("succeeded with the warning: %s" % " | ".join(warnings))
else:
    sys.exit("unknown expectation %r" % mode)
EOF
}

# ---------------------------------------------------------------------------------
# Sound scripts: every one succeeds with no warnings.

sound=()
shopt -s nullglob
for f in "$SRC"/tests/scripts_ok/* "$SRC"/examples/*.py "$SRC"/examples/*.sh \
	"$SRC"/examples/*.js "$SRC"/examples/*.lua "$SRC"/bench/numpy_720p.py; do
	# producer.py is a queue client, not a render script.
	[ "$(basename "$f")" = producer.py ] || sound+=("$f")
done
# The hostile corpus's sound scripts, with _lib.py pasted in as tests/it_hostile.sh does.
for f in "$SRC"/tests/hostile/ok_*; do
	python3 - "$f" "$SRC/tests/hostile/_lib.py" >"$WORK/scripts/$(basename "$f")" <<'EOF'
import sys
src, lib = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.stdout.write(src.replace("#@include _lib.py\n", lib, 1))
EOF
	sound+=("$WORK/scripts/$(basename "$f")")
done
shopt -u nullglob

n_ok=$(find "$SRC/tests/scripts_ok" -type f | wc -l)
if [ "$n_ok" -ge 30 ]; then
	pass "tests/scripts_ok holds $n_ok sound scripts (at least 30)"
else
	fail "tests/scripts_ok holds $n_ok sound scripts, want at least 30"
fi

false_positives=0
for script in "${sound[@]}"; do
	base=$(basename "$script")
	stem=ok-${base%.*}
	run_json "$script" "$stem"
	if why=$(verdict "$stem" sound "" 2>&1); then
		pass "sound $base: $why"
	else
		fail "sound $base: $why"
		case $why in *"false positive"* | *"status failed"*) false_positives=$((false_positives + 1)) ;; esac
		tail -n 5 "$WORK/out/$stem.log" | indent
	fi
done
# The two that write past the frame count: the cut is reported, the job is a success.
for stem in ok-extra_frames ok-endless_until_killed; do
	got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("frame_cap_hit"))' \
		"$WORK/out/$stem.json" 2>/dev/null || echo missing)
	if [ "$got" = True ]; then
		pass "$stem: frame_cap_hit is true"
	else
		fail "$stem: frame_cap_hit is $got, want true"
	fi
done
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("frame_cap_hit"))' \
	"$WORK/out/ok-bouncing_ball.json" 2>/dev/null || echo missing)
if [ "$got" = False ]; then
	pass "ok-bouncing_ball: exactly FRAMES frames, frame_cap_hit is false"
else
	fail "ok-bouncing_ball: frame_cap_hit is $got, want false"
fi

# ---------------------------------------------------------------------------------
# Mistakes: every one fails or warns with its sentence.

caught=0
mistakes=("$SRC"/tests/scripts_bad/*)
if [ ${#mistakes[@]} -ge 16 ]; then
	pass "tests/scripts_bad holds ${#mistakes[@]} mistakes (at least 16)"
else
	fail "tests/scripts_bad holds ${#mistakes[@]} mistakes, want at least 16"
fi
for script in "${mistakes[@]}"; do
	base=$(basename "$script")
	stem=bad-${base%.*}
	expect=$(script_expect "$script")
	mode=${expect%%:*}
	text=${expect#*: }
	if [ -z "$expect" ] || [ "$mode" = "$expect" ]; then
		fail "mistake $base: no '# expect: fails|warns: TEXT' line"
		continue
	fi
	run_json "$script" "$stem"
	if why=$(verdict "$stem" "$mode" "$text" 2>&1); then
		pass "mistake $base: $why"
		caught=$((caught + 1))
	else
		fail "mistake $base: $why"
		tail -n 5 "$WORK/out/$stem.log" | indent
	fi
done

echo "sound scripts: ${#sound[@]}, false positives: $false_positives;" \
	"mistakes: ${#mistakes[@]}, caught with their sentence: $caught"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
