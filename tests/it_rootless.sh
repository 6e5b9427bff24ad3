#!/usr/bin/env bash
# it_rootless.sh - reelbox as an ordinary user (issue 14, "Rootless"): run, exec, worker
# and posture work where the kernel allows unprivileged user namespaces, and say which
# limits hold.
#
# Runs as root (CI does): creates a system user reelbox-it-<pid> with no home and no
# login shell, removed at the end, and runs everything as that user with setpriv (it
# execs the command itself, so $! is the worker's own pid for the SIGTERM at the end).
# The binary is copied into a temp dir the user can read, so the build dir's modes do
# not matter. Skipped, with the reason, when not root or when the kernel refuses the
# user a user namespace (kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0,
# an AppArmor restriction: `unshare -U true` as the user is the judge).
#
# As the user:
#   a. exec: uid 1000 inside mapped to the user's own uid, no capabilities, NoNewPrivs 1,
#      Seccomp 2; no network; nothing writable but scratch; the user's own files are not
#      in view; the limits line on stderr; the state dir is the user's own (0700, and
#      $XDG_RUNTIME_DIR/reelbox when that is set), a state dir it does not own is refused
#   b. limits: a memory hog, a fork bomb (RLIMIT_NPROC counts per sandbox: two at once
#      each get their own count), the wall clock
#   c. run: a tiny script makes a video ffprobe reads; --json's "limits" says what holds;
#      every example in examples/ renders (node, numpy, lua under RLIMIT_DATA)
#   d. posture --json: the rootless posture, honestly (limits fails without a cgroup and
#      says why; every other point holds)
#   e. the sandbox unit tests (test_sandbox, test_seccomp) as the user, when built: the
#      cgroup cases skip themselves with a reason (no job cgroup without root here)
#   f. worker: a job from a private redis-server, its result's "limits", the start log
#      line's "limits", SIGTERM exits 0
#   g. with a range in /etc/subuid and /etc/subgid (given here, taken back at the end)
#      and newuidmap installed: slot 0 maps to the range's first id, no supplementary
#      groups inside, --json and posture say so, two jobs at once run as two ids
#
# Env: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR. Prints PASS/FAIL per
# check and "N passed, M failed"; exit 1 on any failure.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

skip() {
	echo "SKIP it_rootless: $*"
	exit 0
}
die() {
	echo "it_rootless: $*" >&2
	exit 1
}
passed=0
failed=0
pass() {
	echo "PASS $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}
check() { # check NAME STATUS [DETAIL]
	if [ "$2" = 0 ]; then pass "$1"; else fail "$1${3:+: $3}"; fi
}
has() { grep -qF -- "$2" "$1"; }
jqt() { [ -s "$2" ] && jq -e "$1" "$2" >/dev/null 2>&1; }

[ "$(id -u)" = 0 ] || skip "needs root to create and remove its test user (useradd)"
for tool in useradd userdel setpriv unshare ffprobe jq python3 redis-server redis-cli timeout; do
	command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$BIN" ] || die "no reelbox binary at $BIN (set REELBOX_BIN)"
if [ -r /proc/sys/kernel/unprivileged_userns_clone ] &&
	[ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" = 0 ]; then
	skip "kernel.unprivileged_userns_clone is 0: no user namespaces without root here"
fi
if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" = 0 ]; then
	skip "user.max_user_namespaces is 0: no user namespaces without root here"
fi

U=reelbox-it-$$
T=$(mktemp -d /tmp/reelbox-rootless.XXXXXX) || die "mktemp failed"
PIDS=()
SUBS=
BASE=0
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if id "$U" >/dev/null 2>&1; then
		rm -rf "/tmp/reelbox-$(id -u "$U")"
		[ -n "$SUBS" ] && usermod --del-subuids "$BASE-$((BASE + 65535))" \
			--del-subgids "$BASE-$((BASE + 65535))" "$U" 2>/dev/null
		userdel "$U" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
useradd -M -r -U -s /usr/sbin/nologin "$U" || die "useradd $U failed"
UID_U=$(id -u "$U")
chmod 755 "$T"
mkdir -p "$T/bin" "$T/u" && chown "$U:" "$T/u" && chmod 700 "$T/u"
cp "$BIN" "$T/bin/reelbox" && chmod 755 "$T/bin/reelbox"
cp "$SRC/examples/test_card.sh" "$T/u/card.sh" && chown "$U:" "$T/u/card.sh"
R="$T/bin/reelbox"

# as CMD...: CMD as the test user, with a clean environment (no XDG_RUNTIME_DIR).
as() {
	setpriv --reuid="$U" --regid="$U" --init-groups -- \
		env -i PATH=/usr/bin:/bin HOME="$T/u" LANG=C.UTF-8 "$@"
}
cd "$T/u" || die "cd $T/u"

if ! as unshare -U true 2>"$T/userns.err"; then
	skip "the kernel refuses $U a user namespace ($(head -c 200 "$T/userns.err")): an AppArmor or sysctl restriction of unprivileged user namespaces"
fi

# ==== a. exec: ids, capabilities, filter, network, files, state dir =====================
echo "== a. exec as $U (uid $UID_U)"
as "$R" exec -- id >"$T/id.out" 2>"$T/id.err"
check "exec -- id exits 0" $? "$(cat "$T/id.err")"
check "inside, the job is uid 1000 and gid 1000" "$(grep -q '^uid=1000([a-z]*) gid=1000' "$T/id.out"; echo $?)" "$(cat "$T/id.out")"
check "stderr says which limits hold, in one line" "$([ "$(grep -c '^reelbox exec: limits: ' "$T/id.err")" = 1 ]; echo $?)" "$(cat "$T/id.err")"
check "and that every slot runs as this user's uid" "$(has "$T/id.err" "every slot runs as this user's uid"; echo $?)"

as "$R" exec -- sh -c 'cat /proc/self/status; cat /proc/self/uid_map' >"$T/status.out" 2>/dev/null
for want in "CapEff:	0000000000000000" "CapPrm:	0000000000000000" "CapBnd:	0000000000000000" \
	"NoNewPrivs:	1" "Seccomp:	2"; do
	check "/proc/self/status: $want" "$(has "$T/status.out" "$want"; echo $?)"
done
check "uid_map maps 1000 to the user's own uid $UID_U, one id" \
	"$(grep -Eq "^ +1000 +$UID_U +1$" "$T/status.out"; echo $?)" "$(tail -1 "$T/status.out")"

as "$R" exec -- python3 -c '
import socket
try:
    socket.create_connection(("1.1.1.1", 80), timeout=3)
    print("CONNECTED")
except OSError as e:
    print("refused", e.errno)
' >"$T/net.out" 2>"$T/net.err"
check "a network connection fails" "$(! has "$T/net.out" CONNECTED && has "$T/net.out" refused; echo $?)" "$(cat "$T/net.out")"
check "and the denied socket(AF_INET) is named" "$(has "$T/net.err" "denied socket(AF_INET)"; echo $?)"

# touch, not a redirection: a failed redirection of a special built-in ends sh.
as "$R" exec -- sh -c 'for d in / /usr /etc /job /dev /proc; do touch "$d/rootless-probe" 2>/dev/null && echo "WROTE $d"; done; touch /scratch/ok && echo scratch-ok' >"$T/write.out" 2>/dev/null
check "nothing outside scratch is writable" "$(! has "$T/write.out" WROTE; echo $?)" "$(cat "$T/write.out")"
check "scratch is" "$(has "$T/write.out" scratch-ok; echo $?)"
as "$R" exec -- sh -c "ls $T/u/card.sh /tmp 2>&1; echo done" >"$T/view.out" 2>/dev/null
check "the user's own files are not in the job's view" "$(! has "$T/view.out" "$T/u/card.sh" || has "$T/view.out" "No such file"; echo $?)" "$(cat "$T/view.out")"

SD=/tmp/reelbox-$UID_U
check "without XDG_RUNTIME_DIR the state dir is $SD, the user's, 0700" \
	"$([ "$(stat -c '%U %a' "$SD" 2>/dev/null)" = "$U 700" ]; echo $?)" "$(stat -c '%U %a' "$SD" 2>&1)"
check "and holds no sandbox dir after the jobs" "$([ -z "$(ls -A "$SD")" ]; echo $?)" "$(ls -A "$SD")"
mkdir -m 700 "$T/u/xdg" && chown "$U:" "$T/u/xdg"
setpriv --reuid="$U" --regid="$U" --init-groups -- env -i PATH=/usr/bin:/bin HOME="$T/u" \
	XDG_RUNTIME_DIR="$T/u/xdg" "$R" exec -- true 2>"$T/xdg.err"
check "with XDG_RUNTIME_DIR the state dir is \$XDG_RUNTIME_DIR/reelbox" \
	"$([ "$(stat -c '%U %a' "$T/u/xdg/reelbox" 2>/dev/null)" = "$U 700" ]; echo $?)" "$(cat "$T/xdg.err")"
mkdir -m 755 "$T/rootdir"
as env REELBOX_STATE_DIR="$T/rootdir" "$R" exec -- true 2>"$T/rootdir.err"
rc=$?
check "a state dir the user does not own is refused (exit 2)" "$([ $rc = 2 ]; echo $?)" "exit $rc"
check "with a sentence naming the dir and the owner it needs" \
	"$(has "$T/rootdir.err" "the sandbox state dir $T/rootdir must be a directory owned by uid $UID_U"; echo $?)" "$(cat "$T/rootdir.err")"
ln -s "$T/u/xdg" "$T/u/link"
as env REELBOX_STATE_DIR="$T/u/link" "$R" exec -- true 2>"$T/link.err"
check "a state dir that is a symlink is refused" "$([ $? = 2 ] && has "$T/link.err" "cannot open the sandbox state dir"; echo $?)" "$(cat "$T/link.err")"

# ==== b. limits without root ===========================================================
echo "== b. limits"
# What holds here decides what stops a hog: a cgroup (v2 delegated) or RLIMIT_DATA.
as "$R" run --json --size 64x48 --frames 1 card.sh -o "$T/u/probe.mp4" >"$T/probe.json" 2>/dev/null
CG=$(jq -r '.limits.cgroup' "$T/probe.json" 2>/dev/null)
echo "   (cgroup here as $U: $CG)"
as "$R" exec --memory 64 -- python3 -c 'b = bytearray(256 << 20); print("ALLOCATED")' \
	>"$T/hog.out" 2>"$T/hog.err"
rc=$?
check "a 256 MB allocation under --memory 64 fails" "$([ $rc != 0 ] && ! has "$T/hog.out" ALLOCATED; echo $?)" "exit $rc"
if [ "$CG" = none ]; then
	check "stopped by RLIMIT_DATA (MemoryError)" "$(has "$T/hog.err" MemoryError; echo $?)" "$(tail -2 "$T/hog.err")"
else
	check "stopped by the cgroup's memory limit, named" "$(has "$T/hog.err" "memory limit of 64 MB"; echo $?)" "$(tail -2 "$T/hog.err")"
fi
as "$R" exec --memory 64 -- python3 -c 'b = bytearray(16 << 20); print("SMALL-OK")' >"$T/small.out" 2>/dev/null
check "a 16 MB allocation under the same limit works" "$(has "$T/small.out" SMALL-OK; echo $?)"

# Two fork bombs at once: each holds its children 4 s and counts its forks.
BOMB='
import os, time
n = 0
try:
    for i in range(500):
        if os.fork() == 0:
            time.sleep(4); os._exit(0)
        n += 1
except OSError as e:
    print("refused after", n, "errno", e.errno)
print("forks", n)
'
as "$R" exec --pids 16 -- python3 -c "$BOMB" >"$T/bomb1.out" 2>/dev/null &
b1=$!
as "$R" exec --pids 16 -- python3 -c "$BOMB" >"$T/bomb2.out" 2>/dev/null &
b2=$!
wait $b1 $b2
n1=$(sed -n 's/^forks //p' "$T/bomb1.out")
n2=$(sed -n 's/^forks //p' "$T/bomb2.out")
check "a fork bomb under --pids 16 is refused (EAGAIN) below 16 forks" \
	"$(has "$T/bomb1.out" "errno 11" && [ "${n1:-99}" -lt 16 ]; echo $?)" "$(cat "$T/bomb1.out")"
check "a second one at the same time gets its own count (per sandbox, not per uid)" \
	"$(has "$T/bomb2.out" "errno 11" && [ "${n2:-0}" -ge 10 ] && [ "${n1:-0}" -ge 10 ]; echo $?)" "forks $n1 and $n2"
start=$SECONDS
as "$R" exec --timeout 2 -- sleep 30 2>"$T/wall.err"
rc=$?
check "the wall clock ends a sleeper at 2 s (exit 137)" "$([ $rc = 137 ] && [ $((SECONDS - start)) -lt 10 ]; echo $?)" "exit $rc after $((SECONDS - start)) s"
check "and names itself" "$(has "$T/wall.err" "wall-clock timeout of 2 s"; echo $?)" "$(cat "$T/wall.err")"

# ==== c. run ===========================================================================
echo "== c. run"
as "$R" run --json --size 160x120 --fps 10 --frames 5 card.sh -o "$T/u/card.mp4" >"$T/run.json" 2>"$T/run.err"
check "run exits 0" $? "$(tail -3 "$T/run.err")"
check "run --json succeeded" "$(jqt '.status == "succeeded"' "$T/run.json"; echo $?)"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width \
	-of csv=p=0 "$T/u/card.mp4" 2>/dev/null)
check "ffprobe reads the video: 160 wide, 5 frames" "$([ "$frames" = "160,5" ]; echo $?)" "$frames"
check "the video is the user's" "$([ "$(stat -c %U "$T/u/card.mp4")" = "$U" ]; echo $?)"
check "--json limits: rootless, slots share the uid" \
	"$(jqt '.limits.rootless == true and .limits.slot_uids == "shared"' "$T/run.json"; echo $?)" "$(jq -c .limits "$T/run.json")"
check "--json limits: the cgroup kind is one of v2-delegated, v1, none" \
	"$(jqt '.limits.cgroup | IN("v2-delegated", "v1", "none")' "$T/run.json"; echo $?)"
check "--json limits: the wall clock and RLIMIT_NPROC always hold" \
	"$(jqt '.limits.enforced | index("wall_clock") and index("rlimit_nproc")' "$T/run.json"; echo $?)"
if [ "$CG" = none ]; then
	check "--json limits without a cgroup: memory is RLIMIT_DATA, and memory/pids/cpu are listed as not enforced" \
		"$(jqt '(.limits.enforced | index("rlimit_data")) and (.limits.not_enforced == ["memory", "pids", "cpu"])' "$T/run.json"; echo $?)"
fi
check "stderr has the limits line once" "$([ "$(grep -c '^reelbox run: limits: ' "$T/run.err")" = 1 ]; echo $?)"
# Every runtime under the rootless limits (RLIMIT_DATA must not stop node or numpy):
# each example renders a few frames. producer.py is a queue client, not a script.
for f in "$SRC"/examples/*.py "$SRC"/examples/*.sh "$SRC"/examples/*.js "$SRC"/examples/*.lua; do
	b=$(basename "$f")
	[ "$b" = producer.py ] && continue
	cp "$f" "$T/u/ex-$b" && chown "$U:" "$T/u/ex-$b"
	as timeout 120 "$R" run --size 160x120 --frames 4 "ex-$b" -o "$T/u/ex-$b.mp4" >/dev/null 2>"$T/ex.err"
	check "examples/$b renders as $U" $? "$(tail -2 "$T/ex.err")"
done

# ==== d. posture ========================================================================
echo "== d. posture"
as "$R" posture --json >"$T/posture.json" 2>"$T/posture.err"
rc=$?
for p in isolation filesystem network secrets lifetime cleanup audit; do
	check "posture: $p holds as $U" "$(jqt ".points[] | select(.id == \"$p\") | .holds" "$T/posture.json"; echo $?)" \
		"$(jq -r ".points[] | select(.id == \"$p\") | .failed" "$T/posture.json" 2>/dev/null)"
done
check "posture: isolation says every slot shares the user's uid" \
	"$(jqt '.points[] | select(.id == "isolation") | .evidence | contains("every slot shares")' "$T/posture.json"; echo $?)"
check "posture facts: rootless, the same cgroup kind as run" \
	"$(jqt ".facts.host.rootless == true and .facts.host.cgroup == \"$CG\"" "$T/posture.json"; echo $?)"
if [ "$CG" = none ]; then
	check "posture: limits does not hold without a cgroup, and says why (exit 1)" \
		"$([ $rc = 1 ] && jqt '.points[] | select(.id == "limits") | (.holds | not) and (.failed | contains("not root and no delegated cgroup v2 subtree"))' "$T/posture.json"; echo $?)" "exit $rc"
	check "posture: limits says what holds instead" \
		"$(jqt '.points[] | select(.id == "limits") | .evidence | contains("RLIMIT_DATA") and contains("per job")' "$T/posture.json"; echo $?)"
else
	check "posture: limits holds with a delegated cgroup" "$(jqt '.points[] | select(.id == "limits") | .holds' "$T/posture.json"; echo $?)"
fi

# ==== e. the sandbox unit tests as the user ============================================
echo "== e. unit tests as $U"
for t in test_sandbox test_seccomp; do
	tb=$(dirname "$BIN")/$t
	if [ ! -x "$tb" ]; then
		echo "   ($t is not built beside $BIN: not run)"
		continue
	fi
	cp "$tb" "$T/bin/$t" && chmod 755 "$T/bin/$t"
	as timeout 600 "$T/bin/$t" >"$T/$t.out" 2>&1
	rc=$?
	check "$t passes as $U ($(grep -c '^\[       OK \]' "$T/$t.out") ok, $(grep '^\[  SKIPPED \] test_' "$T/$t.out" | sort -u | wc -l) skipped)" "$rc" \
		"$(grep -E 'FAILED|Error' "$T/$t.out" | head -5)"
	check "$t: whatever it skipped, it skipped for want of a job cgroup" \
		"$(! grep '^skipped:' "$T/$t.out" | grep -qv cgroup; echo $?)" "$(grep '^skipped:' "$T/$t.out" | sort -u)"
done

# ==== f. the worker =====================================================================
echo "== f. worker as $U"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/redis"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$T/redis" >/dev/null 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$T/u/wout" && chown "$U:" "$T/u/wout"
# Not through as(): a function run in the background is a subshell, and $! would be its
# pid, not the worker's.
setpriv --reuid="$U" --regid="$U" --init-groups -- env -i PATH=/usr/bin:/bin HOME="$T/u" \
	"$R" worker --redis "redis://127.0.0.1:$PORT" --concurrency 2 --output-dir "$T/u/wout" \
	>/dev/null 2>"$T/worker.log" &
WPID=$!
PIDS+=("$WPID")
as timeout 120 "$R" submit --redis "redis://127.0.0.1:$PORT" --wait --json --size 160x120 --fps 10 \
	--frames 5 -o rootless.mp4 card.sh >"$T/submit.json" 2>"$T/submit.err"
check "a job submitted to the user's worker succeeds" "$(jqt '.state == "succeeded" or .status == "succeeded"' "$T/submit.json"; echo $?)" \
	"$(head -c 400 "$T/submit.json") $(tail -2 "$T/submit.err")"
out=$(find "$T/u/wout" -name '*.mp4' | head -1)
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$out" 2>/dev/null)
check "its video is there, 5 frames, written by $U" "$([ "$frames" = 5 ] && [ "$(stat -c %U "$out")" = "$U" ]; echo $?)" "$out: $frames"
check "the job's result says which limits held" \
	"$(jqt '.. | objects | select(has("limits")) | .limits.rootless == true' "$T/submit.json"; echo $?)"
check "the worker's start line says which limits hold" \
	"$(grep '"event":"worker_started"' "$T/worker.log" | jq -e ".limits.cgroup == \"$CG\" and .limits.rootless == true" >/dev/null 2>&1; echo $?)" \
	"$(head -c 300 "$T/worker.log")"
kill -TERM "$WPID"
wait "$WPID"
rc=$?
check "SIGTERM stops the worker, exit 0" "$([ $rc = 0 ]; echo $?)" "exit $rc"
check "no sandbox dir is left in the state dir" "$([ -z "$(ls -A "$SD")" ]; echo $?)" "$(ls -A "$SD")"

# ==== g. per-slot host ids from the user's subordinate range =============================
echo "== g. per-slot host ids from /etc/subuid (newuidmap)"
if [ ! -x /usr/bin/newuidmap ] || [ ! -x /usr/bin/newgidmap ] || ! command -v usermod >/dev/null; then
	echo "   (newuidmap/newgidmap (Debian's uidmap) or usermod missing: not run)"
else
	# A range clear of every range the files already hold.
	BASE=$(cat /etc/subuid /etc/subgid 2>/dev/null |
		awk -F: 'BEGIN { m = 3000000 } { e = $2 + $3; if (e > m) m = e } END { print m + 65536 }')
	usermod --add-subuids "$BASE-$((BASE + 65535))" --add-subgids "$BASE-$((BASE + 65535))" "$U" ||
		die "usermod --add-subuids failed"
	SUBS=1
	as "$R" exec -- sh -c 'cat /proc/self/uid_map /proc/self/gid_map; grep ^Groups: /proc/self/status' \
		>"$T/sub.out" 2>"$T/sub.err"
	check "exec maps 1000 to slot 0's subordinate uid and gid $BASE" \
		"$([ "$(grep -Ec "^ +1000 +$BASE +1$" "$T/sub.out")" = 2 ]; echo $?)" "$(cat "$T/sub.out" "$T/sub.err")"
	check "and leaves no supplementary group inside" "$(grep -Eq '^Groups:\s*$' "$T/sub.out"; echo $?)"
	check "stderr says each slot runs as the user's subordinate id" \
		"$(has "$T/sub.err" "each slot runs as the user's subordinate id"; echo $?)" "$(cat "$T/sub.err")"
	as "$R" run --json --size 64x48 --frames 2 card.sh -o "$T/u/sub.mp4" >"$T/sub.json" 2>/dev/null
	check "run renders, and --json says slot_uids subuid" \
		"$(jqt '.status == "succeeded" and .limits.slot_uids == "subuid"' "$T/sub.json"; echo $?)" "$(jq -c .limits "$T/sub.json" 2>/dev/null)"
	# The worker (the user) opens the script's audio file in scratch, which a
	# subordinate uid owns: scratch lets others search it (0711), the file is the
	# script's 0644.
	cat >audio.py <<'PYEOF'
import os, struct, sys, wave
w = wave.open(os.path.join(os.environ["SCRATCH"], "audio.wav"), "wb")
w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
w.writeframes(struct.pack("<800h", *([1000, -1000] * 400))); w.close()
n = int(os.environ["WIDTH"]) * int(os.environ["HEIGHT"]) * 3
for _ in range(int(os.environ["FRAMES"])):
    sys.stdout.buffer.write(b"\x80" * n)
PYEOF
	chown "$U:" audio.py
	as "$R" run --json --size 64x48 --frames 4 --audio audio.wav audio.py -o "$T/u/sub-a.mp4" \
		>"$T/sub-a.json" 2>"$T/sub-a.err"
	check "an audio job runs with subordinate ids: the worker reads the script's file" \
		"$(jqt '.status == "succeeded" and .audio.codec == "aac"' "$T/sub-a.json"; echo $?)" "$(jq -c '{status, error}' "$T/sub-a.json" 2>/dev/null; tail -c 300 "$T/sub-a.err")"
	as "$R" posture --json >"$T/sub-posture.json" 2>/dev/null
	check "posture: isolation holds and names the subordinate ids" \
		"$(jqt '.points[] | select(.id == "isolation") | .holds and (.evidence | contains("subordinate id"))' "$T/sub-posture.json"; echo $?)"
	check "posture: the job's host uid is in the range" \
		"$(jqt ".facts.host.host_uid >= $BASE and .facts.host.host_uid < $((BASE + 65536))" "$T/sub-posture.json"; echo $?)"
	# Two jobs at once on a worker with two slots: two host uids of the range.
	sed 's/^set -eu$/set -eu\nsleep 3/' card.sh >slow.sh && chown "$U:" slow.sh
	mkdir -p "$T/u/wout2" && chown "$U:" "$T/u/wout2"
	setpriv --reuid="$U" --regid="$U" --init-groups -- env -i PATH=/usr/bin:/bin HOME="$T/u" \
		"$R" worker --redis "redis://127.0.0.1:$PORT" --concurrency 2 --output-dir "$T/u/wout2" \
		>/dev/null 2>"$T/worker2.log" &
	W2=$!
	PIDS+=("$W2")
	for n in 1 2; do
		as "$R" submit --redis "redis://127.0.0.1:$PORT" --size 64x48 --frames 2 -o "slow$n.mp4" slow.sh \
			>/dev/null 2>>"$T/submit2.err"
	done
	seen=""
	for _ in $(seq 40); do
		seen=$(ps -eo uid= | awk -v b="$BASE" '$1 >= b && $1 < b + 65536' | sort -u | tr '\n' ' ')
		[ "$(echo $seen | wc -w)" -ge 2 ] && break
		sleep 0.2
	done
	check "two jobs at once run as two subordinate uids (one per slot)" \
		"$([ "$(echo $seen | wc -w)" -ge 2 ]; echo $?)" "seen: $seen"
	for _ in $(seq 100); do
		[ "$(find "$T/u/wout2" -name '*.mp4' | wc -l)" -ge 2 ] && break
		sleep 0.2
	done
	check "and both render" "$([ "$(find "$T/u/wout2" -name '*.mp4' | wc -l)" -ge 2 ]; echo $?)" "$(cat "$T/submit2.err")"
	kill -TERM "$W2"
	wait "$W2"
	check "that worker too stops on SIGTERM, exit 0" "$([ $? = 0 ]; echo $?)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
