#!/usr/bin/env bash
# it_gvisor_start.sh - a gvisor tier that cannot start is a clear start-up error, never a
# silent run in the weaker tier (issue 17, docs/CONTRACT "Tiers").
#
#   a. `run --tier gvisor` and `exec --tier gvisor` with the config's gvisor.runsc naming a
#      binary that does not exist: exit 2, one line on stderr naming runsc and the path,
#      no output file, nothing run (a marker the script would write is absent);
#   b. the same with a runsc that is not executable, and with a platform the host refuses
#      (kvm without /dev/kvm): exit 2, one line naming runsc;
#   c. `posture --tier gvisor` with the missing runsc: exit 2 naming it;
#   d. a worker whose config enables gvisor, with the missing runsc, refuses to start:
#      it exits 2 within seconds with one line naming runsc, and claims no job.
# The missing-binary checks need no runsc at all; b's platform check and the control run
# (the same command with the real runsc works) are skipped, saying why, where runsc cannot
# start a sandbox.
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
need redis-server redis-cli jq

T=$(mktemp -d /tmp/reelbox-gvstart.XXXXXX)
REDIS_PID=
cleanup() {
	[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
MISSING=$T/no-such-dir/runsc
cat >"$T/script.py" <<'PY'
import os
open("/job/../scratch/ran", "w").write("ran")  # harmless; the job must never get here
os.write(1, b"\x10" * (int(os.environ["WIDTH"]) * int(os.environ["HEIGHT"]) * 3) * int(os.environ["FRAMES"]))
PY
config() { # config FILE RUNSC [PLATFORM]: a config with gvisor enabled and that runsc
	printf '{"state_dir": "%s", "tiers": {"enabled": ["native", "gvisor"]}, "gvisor": {"runsc": "%s"%s}}\n' \
		"$T/state" "$2" "${3:+, \"platform\": \"$3\"}" >"$1"
}
# one_line_naming FILE WORD...: FILE is one line and names every WORD
one_line_naming() {
	local f=$1 w
	shift
	[ "$(wc -l <"$f")" = 1 ] || return 1
	for w in "$@"; do grep -qF -- "$w" "$f" || return 1; done
}
config "$T/missing.json" "$MISSING"
touch "$T/not-exec" && chmod 644 "$T/not-exec"
config "$T/notexec.json" "$T/not-exec"

# a. run and exec with a missing runsc
"$BIN" run --tier gvisor --config "$T/missing.json" --size 64x48 --fps 1 --frames 1 \
	-o "$T/out.mp4" "$T/script.py" >"$T/run.out" 2>"$T/run.err"
rc=$?
ok $([ $rc = 2 ]; echo $?) "a. run --tier gvisor, runsc missing: exit 2 (got $rc)"
check "a. run: one line naming runsc and $MISSING ($(head -c 300 "$T/run.err"))" \
	one_line_naming "$T/run.err" runsc "$MISSING"
check "a. run: no output file" test ! -e "$T/out.mp4"
"$BIN" exec --tier gvisor --config "$T/missing.json" -- /bin/sh -c 'echo ran-natively' \
	>"$T/exec.out" 2>"$T/exec.err"
rc=$?
ok $([ $rc = 2 ]; echo $?) "a. exec --tier gvisor, runsc missing: exit 2 (got $rc)"
check "a. exec: one line naming runsc ($(head -c 300 "$T/exec.err"))" \
	one_line_naming "$T/exec.err" runsc "$MISSING"
check "a. exec: the command did not run in another tier" test ! -s "$T/exec.out"

# b. a runsc that is not executable; a platform the host refuses
"$BIN" exec --tier gvisor --config "$T/notexec.json" -- /bin/true >/dev/null 2>"$T/notexec.err"
rc=$?
ok $([ $rc = 2 ] && one_line_naming "$T/notexec.err" runsc "$T/not-exec"; echo $?) \
	"b. runsc not executable: exit 2, one line naming it (exit $rc: $(head -c 300 "$T/notexec.err"))"
if "$BIN" exec --tier gvisor -- /bin/true >/dev/null 2>&1; then
	pass "control: the same exec with the real runsc starts"
	if [ -e /dev/kvm ]; then
		echo "SKIP b. refusing platform: this host has /dev/kvm"
	else
		config "$T/kvm.json" /usr/bin/runsc kvm
		"$BIN" exec --tier gvisor --config "$T/kvm.json" -- /bin/sh -c 'echo ran' \
			>"$T/kvm.out" 2>"$T/kvm.err"
		rc=$?
		ok $([ $rc = 2 ] && one_line_naming "$T/kvm.err" runsc && [ ! -s "$T/kvm.out" ]; echo $?) \
			"b. platform kvm without /dev/kvm: exit 2, one line naming runsc, nothing ran (exit $rc: $(head -c 300 "$T/kvm.err"))"
	fi
else
	echo "SKIP b. refusing platform and the control run: the gvisor tier cannot start on this host"
fi

# c. posture
"$BIN" posture --tier gvisor --config "$T/missing.json" >"$T/posture.out" 2>"$T/posture.err"
rc=$?
ok $([ $rc = 2 ] && one_line_naming "$T/posture.err" runsc "$MISSING"; echo $?) \
	"c. posture --tier gvisor, runsc missing: exit 2 naming it (exit $rc: $(head -c 300 "$T/posture.err"))"

# d. a worker with gvisor enabled and a missing runsc refuses to start
PORT=$(free_port)
mkdir -p "$T/redis" "$T/videos"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
id=$("$BIN" submit --tier gvisor --size 64x48 --fps 1 --frames 1 "$T/script.py" 2>"$T/submit.err" | tail -n 1)
t0=$(date +%s)
timeout 30 "$BIN" worker --config "$T/missing.json" \
	--output-dir "$T/videos" >"$T/worker.out" 2>"$T/worker.err"
rc=$?
elapsed=$(($(date +%s) - t0))
ok $([ $rc = 2 ] && [ $elapsed -le 15 ]; echo $?) "d. worker with a missing runsc: exit 2 within 15 s (exit $rc after $elapsed s)"
check "d. worker: its error names runsc and $MISSING ($(tail -c 300 "$T/worker.err"))" \
	grep -qF "$MISSING" "$T/worker.err"
check "d. worker: no video was made" test -z "$(find "$T/videos" -name '*.mp4')"
state=$("$BIN" status --json "$id" 2>/dev/null | jq -r '.state // empty' 2>/dev/null)
ok $([ -n "$id" ] && [ "$state" = queued ]; echo $?) "d. worker: the job it was offered is still queued (id ${id:-none}, state ${state:-?}: $(head -c 200 "$T/submit.err"))"
finish
