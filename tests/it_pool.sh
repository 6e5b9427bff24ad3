#!/usr/bin/env bash
# Integration test of the warm pool (issue 16, worker/pool.c): a worker with --pool keeps
# python3 sandboxes started with numpy and Pillow imported; a job takes one, exactly once.
# A private redis-server, the real sandbox, real encodes checked with ffprobe.
#
#  a. the pool fills: /metrics shows 2 ready, their idle memory and processes; a numpy job
#     starts warm (job_finished "warm": true), its video has the job's size and frames.
#  b. a warm job sees what a cold one sees: the same environment (names and values), argv,
#     __name__, __file__, the other dunders (names, order, types) and __loader__,
#     sys.path[0], cwd, stdin at end-of-file, and no trace of the
#     loader in its globals; a NameError's traceback names /job/<name> with the source
#     line and no loader frame; a syntax error reads as a cold start's; exit codes carry.
#  c. single use, against a hostile script: job A leaves files in $SCRATCH, /tmp and
#     /dev/shm, a daemonised process, an exported variable and a modified module; the
#     next warm jobs B see none of it, nor A's processes, and run as another sandbox
#     (the worker's pool counted both as taken); the host-side scratch and cgroups of A
#     are gone; a network attempt is denied as cold.
#  d. jobs that do not fit start cold and say why: non-default limits ("limits"), an sh
#     script ("runtime"), with the pool's counters.
#  e. a member killed while it waits is replaced (failed counted, ready again); with
#     pool.max_age 10 a ready member is replaced (expired counted).
#  f. bad settings: --pool 65, a pool key other than python3/max_age: one-line usage
#     errors (2).
#  f2. a warm script ends as a cold one does: stdout closed, KeyboardInterrupt, a __del__
#     that needs its globals, os._exit and gc.collect replaced, a BOM, sys.exit("msg")
#     with an atexit handler, a failing flush (run --warm against run, same results).
#  g. SIGTERM: the worker exits 0 and leaves no sandbox cgroup or state dir behind.
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
need redis-server redis-cli ffprobe curl
if ! "$PY" -c 'import numpy, PIL' 2>/dev/null; then
	echo "it_pool: SKIP: $PY with numpy and Pillow is required"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itpool.XXXXXX")
chmod 755 "$T"
MARK=itpool$$
OUT=$T/out
mkdir -p "$T/redis" "$T/state" "$T/s" "$OUT"
PORT=$(free_port)
MPORT=$(free_port)
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$T/state
CFG=$T/config.json
printf '{"result_ttl": 600, "state_dir": "%s"}\n' "$T/state" >"$CFG"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")
REDIS_PID=
WPID=

cleanup() {
	exec 2>/dev/null
	[ -n "$WPID" ] && kill -9 "$WPID"
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID"
	wait
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_pool: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
	[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done

pyc() { "$PY" -c "$@"; }
metric() { # metric NAME_WITH_LABELS: its value on the worker's /metrics, or -1
	curl -s -m 5 "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print -1 }'
}
wait_metric() { # wait_metric NAME VALUE SECONDS
	local _
	for _ in $(seq $(($3 * 10))); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
start_worker() { # start_worker LOGNAME ARGS...: WPID, waits for redis_connected
	local name=$1
	shift
	"$BIN" worker --concurrency 1 --output-dir "$OUT" --lease 10 --grace 5 --config "$CFG" \
		--metrics-port "$MPORT" "$@" 2>"$T/$name.log" &
	WPID=$!
	ALL_WPIDS+=("$WPID")
	for _ in $(seq 100); do
		grep -q '"event":"redis_connected"' "$T/$name.log" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
stop_worker() {
	kill -TERM "$WPID"
	WRC=255
	for _ in $(seq 150); do
		kill -0 "$WPID" 2>/dev/null || {
			wait "$WPID"
			WRC=$?
			WPID=
			return 0
		}
		sleep 0.1
	done
}
# sub NAME SCRIPT [OPTS]: submit --wait --json into $T/NAME.json; rc in SRC_RC
sub() {
	local name=$1 script=$2
	shift 2
	timeout 120 "$BIN" submit --id "$MARK-$name" --wait --json --size 64x48 --frames 4 --fps 4 \
		"$@" "$script" >"$T/$name.json" 2>"$T/$name.err"
}
finished() { # finished NAME: the worker's job_finished line for it
	grep -h '"event":"job_finished"' "$T"/w*.log | grep -F "\"job\":\"$MARK-$1\"" | tail -1
}
warm_of() { finished "$1" | pyc 'import json, sys; d = json.loads(sys.stdin.read() or "{}"); print(str(d.get("warm")).lower(), d.get("cold_why"))'; }
log_of() { timeout 20 "$BIN" logs "$MARK-$1" 2>/dev/null; }
state_of() { pyc 'import json, sys; print(json.load(open(sys.argv[1])).get("state"))' "$T/$1.json" 2>/dev/null; }
error_of() { pyc 'import json, sys; print(json.load(open(sys.argv[1])).get("error") or "")' "$T/$1.json" 2>/dev/null; }
output_of() { pyc 'import json, sys; d = json.load(open(sys.argv[1])); print(d.get("output") or (d.get("result") or {}).get("output") or "")' "$T/$1.json" 2>/dev/null; }
probe() { # probe FILE: "WxH frames"
	ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=width,height,nb_read_frames \
		-of csv=p=0 "$1" 2>/dev/null | awk -F, '{ print $1 "x" $2, $3 }'
}

S=$T/s
cat >"$S/numpy.py" <<'EOF'
import os, sys
import numpy as np
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    sys.stdout.buffer.write(np.full((h, w, 3), 40 * i, np.uint8).tobytes())
EOF
# What a script sees of its start, on stderr as one JSON line; then its frames.
cat >"$S/view.py" <<'EOF'
import json, os, sys
seen = {
    "env": dict(os.environ),
    "argv": sys.argv,
    "name": __name__,
    "file": __file__,
    "path0": sys.path[0],
    "cwd": os.getcwd(),
    "stdin": os.read(0, 16).decode("latin-1"),
    "globals": sorted(k for k in globals() if not k.startswith("__") and k not in ("json", "os", "sys", "seen")),
    "main_is_module": sys.modules["__main__"].__dict__ is globals(),
    "dunders": [[k, type(v).__name__] for k, v in globals().items() if k.startswith("__")],
    "annotations": repr(globals().get("__annotations__", "missing")),
    "cached": repr(globals().get("__cached__", "missing")),
    "loader": [type(__loader__).__name__, getattr(__loader__, "name", None), getattr(__loader__, "path", None)],
}
print("VIEW " + json.dumps(seen, sort_keys=True), file=sys.stderr)
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
sys.stdout.buffer.write(bytes(w * h * 3 * n))
EOF
cat >"$S/nameerror.py" <<'EOF'
import sys
x = 1
print(colour)
EOF
cat >"$S/syntax.py" <<'EOF'
import sys
def broken(:
    pass
EOF
cat >"$S/exit7.py" <<'EOF'
import sys
sys.exit(7)
EOF
# A: leave everything it can behind, then render.
cat >"$S/leave.py" <<'EOF'
import os, sys, time
open(os.path.join(os.environ["SCRATCH"], "LEFT_scratch"), "w").write("A was here")
open("/tmp/LEFT_tmp", "w").write("A was here")
try:
    open("/dev/shm/LEFT_shm", "w").write("A was here")
except OSError:
    pass
os.environ["LEFT_ENV"] = "A"
import numpy
numpy.LEFT_ATTR = "A"
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import ctypes
        ctypes.CDLL(None).prctl(15, b"rbx-left-A", 0, 0, 0)  # PR_SET_NAME: found from the host
        while True:
            time.sleep(0.05)
    os._exit(0)
time.sleep(0.2)
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
sys.stdout.buffer.write(bytes(w * h * 3 * n))
print("A pid view", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), file=sys.stderr)
EOF
# B: look for anything A left.
cat >"$S/look.py" <<'EOF'
import os, sys
import numpy
found = []
for p in (os.path.join(os.environ["SCRATCH"], "LEFT_scratch"), "/tmp/LEFT_tmp", "/dev/shm/LEFT_shm"):
    if os.path.exists(p):
        found.append(p)
if "LEFT_ENV" in os.environ:
    found.append("env")
if hasattr(numpy, "LEFT_ATTR"):
    found.append("numpy attr")
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
for p in pids:
    try:
        cmd = open("/proc/%d/cmdline" % p, "rb").read()
    except OSError:
        continue
    if b"leave" in cmd:
        found.append("process %d" % p)
print("LOOK found=%s pids=%s scratch=%s tmp=%s" % (found, pids, sorted(os.listdir(os.environ["SCRATCH"])), sorted(os.listdir("/tmp"))), file=sys.stderr)
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
sys.stdout.buffer.write(bytes(w * h * 3 * n))
sys.exit(3 if found else 0)
EOF
cat >"$S/net.py" <<'EOF'
import os, socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 6379), 1)
    print("NET reached", file=sys.stderr)
except OSError as e:
    print("NET denied %s" % e.errno, file=sys.stderr)
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
sys.stdout.buffer.write(bytes(w * h * 3 * n))
EOF
cat >"$S/plain.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero
EOF

# A sandbox's cgroups are named rbx-<the worker's pid>-<n>: this test's workers' only.
ALL_WPIDS=()
cg_dirs() {
	local p n=0
	for p in "${ALL_WPIDS[@]}"; do
		n=$((n + $(find /sys/fs/cgroup -maxdepth 4 -type d -name "rbx-$p-*" 2>/dev/null | wc -l)))
	done
	echo "$n"
}

echo "== a. the pool fills; a numpy job starts warm"
start_worker w1 --pool 2
ok $? "worker --pool 2 starts (pid $WPID)"
WPID_1=$WPID
ZYG=0
zl=$(grep -h '"event":"worker_started"' "$T"/w1.log | grep -o '"pool_zygote[^,}]*' | tr '\n' ' ')
grep -q '"pool_zygote":true' <<<"$zl" && ZYG=1
check "its members are cloned by the python3 zygote ($zl)" [ "$ZYG" = 1 ]
wait_metric 'reelbox_pool_sandboxes{state="ready"}' 2 60
ok $? "/metrics: 2 ready within 60 s (warm start $(metric reelbox_pool_warm_seconds) s)"
idle=$(metric reelbox_pool_idle_memory_bytes)
procs=$(metric reelbox_pool_idle_processes)
[ "${idle%.*}" -gt 0 ] && [ "$procs" = 4 ]
ok $? "idle cost reported: $((${idle%.*} / 1048576)) MiB, $procs processes"
sub np "$S/numpy.py"
rc=$?
out=$(output_of np)
[ "$rc" -eq 0 ] && [ "$(probe "$out")" = "64x48 4" ]
ok $? "a numpy job succeeds (rc $rc, $(probe "$out"))"
check "... and started warm ($(warm_of np))" [ "$(warm_of np)" = "true None" ]

echo "== b. a warm job sees what a cold one sees"
sub vwarm "$S/view.py"
sub vcold "$S/view.py" --timeout 59
why=$(pyc '
import json, subprocess, sys
def view(name):
    out = subprocess.run([sys.argv[1], "logs", sys.argv[2] + "-" + name], capture_output=True, text=True).stdout
    for l in out.splitlines():
        if l.startswith("VIEW "):
            return json.loads(l[5:])
w, c = view("vwarm"), view("vcold")
if not w or not c:
    print("no VIEW line: warm %s cold %s" % (bool(w), bool(c))); sys.exit(1)
diff = sorted(k for k in set(w) | set(c) if w.get(k) != c.get(k))
print("same" if not diff else "differ in %s: warm %s cold %s" % (diff, {k: w.get(k) for k in diff}, {k: c.get(k) for k in diff}))
sys.exit(1 if diff else 0)' "$BIN" "$MARK")
v=$?
[ $v -eq 0 ] && [ "$(warm_of vwarm)" = "true None" ] && [ "$(warm_of vcold)" = "false limits" ]
ok $? "environment, argv, __name__, __file__, the other dunders and __loader__, sys.path[0], cwd, stdin, globals: $why ($(warm_of vwarm) / $(warm_of vcold))"

sub nerr "$S/nameerror.py"
e=$(error_of nerr)
lg=$(log_of nerr)
[ "$(warm_of nerr)" = "true None" ] && grep -q "NameError: name 'colour' is not defined" <<<"$e$lg" &&
	grep -q 'File "/job/nameerror.py", line 3' <<<"$lg" && grep -q 'print(colour)' <<<"$lg" &&
	! grep -q '<string>' <<<"$lg"
ok $? "a warm NameError: the script's frame with its source line, no loader frame ($(tr '\n' '|' <<<"$lg" | cut -c1-200))"
sub syn "$S/syntax.py"
e=$(error_of syn)
lg=$(log_of syn)
[ "$(warm_of syn)" = "true None" ] && grep -q 'SyntaxError' <<<"$e$lg" && grep -q '/job/syntax.py", line 2' <<<"$lg" &&
	! grep -q '<string>\|Traceback' <<<"$lg"
ok $? "a warm syntax error reads as a cold one ($(tr '\n' '|' <<<"$lg" | cut -c1-160))"
sub ex7 "$S/exit7.py"
e=$(error_of ex7)
[ "$(warm_of ex7)" = "true None" ] && grep -q 'status 7' <<<"$e"
ok $? "sys.exit(7) is exit status 7 ($e)"

echo "== c. single use: what job A leaves, job B never sees"
sub leave "$S/leave.py"
rc_a=$?
ok $rc_a "job A (files in \$SCRATCH, /tmp, /dev/shm, a daemon, an env var, a module attribute) succeeds warm ($(warm_of leave))"
for k in 1 2 3; do
	sub "look$k" "$S/look.py"
	rc=$?
	lg=$(log_of "look$k" | grep '^LOOK' | cut -c1-220)
	[ "$rc" -eq 0 ] && [ "$(warm_of "look$k")" = "true None" ] && grep -q 'found=\[\]' <<<"$lg"
	ok $? "warm job B$k finds nothing of A: $lg"
	sleep 0.5
done
# A's daemon ran the loader's command line: only the pool's waiting members may have it,
# two processes each (the init's argv holds the command too).
wait_metric 'reelbox_pool_sandboxes{state="ready"}' 2 60
if [ "$ZYG" = 1 ]; then
	# Zygote members: pid 2 runs the zygote's command line, so does anything it forked;
	# the zygote itself and one per waiting member may have it.
	# (A's daemon named itself: other workers' zygote members on this host do not count)
	left=$(pgrep -xc rbx-left-A)
	check "no process of A is left on the host: $left named rbx-left-A" [ "$left" -eq 0 ]
else
	loaders=$(pgrep -fc '_reelbox_war[m]')
	check "no process of A is left on the host: $loaders loader processes for 2 waiting members" [ "$loaders" -eq 4 ]
fi
taken=$(metric 'reelbox_pool_events_total{event="taken"}')
nwarm=$(grep -h '"event":"job_finished"' "$T"/w1.log | grep -c '"warm":true')
[ "$taken" -eq "$nwarm" ] && [ "$nwarm" -ge 9 ]
ok $? "every warm job took a sandbox of its own: taken $taken, warm jobs $nwarm"
sub net "$S/net.py"
lg=$(log_of net)
grep -q 'NET denied' <<<"$lg" && ! grep -q 'NET reached' <<<"$lg"
ok $? "a warm job's network attempt is denied ($(grep '^NET\|denied' <<<"$lg" | head -2 | tr '\n' '|'))"

echo "== d. jobs that do not fit start cold and say why"
sub lim "$S/numpy.py" --memory 300
check "non-default limits: cold, why 'limits' ($(warm_of lim))" [ "$(warm_of lim)" = "false limits" ]
sub shjob "$S/plain.sh"
rc=$?
[ "$rc" -eq 0 ] && [ "$(warm_of shjob)" = "false runtime" ]
ok $? "an sh job: cold, why 'runtime' (rc $rc, $(warm_of shjob))"
cold=$(metric 'reelbox_pool_events_total{event="cold"}')
check "the cold counter counts them ($cold)" [ "$cold" -ge 3 ]

echo "== e. a member killed while it waits is replaced"
wait_metric 'reelbox_pool_sandboxes{state="ready"}' 2 60
failed0=$(metric 'reelbox_pool_events_total{event="failed"}')
if [ "$ZYG" = 1 ]; then
	# this worker's own: its zygote, the newest member's init, that init's child
	zyg=$(pgrep -P "$WPID" -f '__zygot[e]' | head -1)
	init=${zyg:+$(pgrep -P "$zyg" -n)}
	victim=${init:+$(pgrep -P "$init" | head -1)}
else
	victim=$(pgrep -f -n '_reelbox_warm')
fi
if [ -n "$victim" ]; then
	kill -9 "$victim"
	for _ in $(seq 100); do
		[ "$(metric 'reelbox_pool_events_total{event="failed"}')" -gt "$failed0" ] && break
		sleep 0.1
	done
	f1=$(metric 'reelbox_pool_events_total{event="failed"}')
	wait_metric 'reelbox_pool_sandboxes{state="ready"}' 2 60
	r=$?
	[ "$f1" -gt "$failed0" ] && [ $r -eq 0 ]
	ok $? "SIGKILL of a waiting loader (pid $victim): failed $failed0 -> $f1, 2 ready again"
else
	fail "a waiting loader's process is visible on the host"
fi
sub afterkill "$S/numpy.py"
check "the next job still renders warm ($(warm_of afterkill))" [ "$(warm_of afterkill)" = "true None" ]
if [ "$ZYG" = 1 ]; then
	# The zygote killed: its waiting members die with it, a new zygote replaces it.
	zpid=$(pgrep -P "$WPID" -f '__zygot[e]' | head -1)
	kill -9 "$zpid"
	for _ in $(seq 100); do
		z2=$(pgrep -P "$WPID" -f '__zygot[e]' | head -1)
		[ -n "$z2" ] && [ "$z2" != "$zpid" ] && break
		sleep 0.1
	done
	wait_metric 'reelbox_pool_sandboxes{state="ready"}' 2 60
	r=$?
	[ -n "$z2" ] && [ "$z2" != "$zpid" ] && [ $r -eq 0 ] && [ "$(metric reelbox_pool_zygote)" = 1 ] &&
		grep -q '"event":"pool_zygote_restarted"' "$T"/w1.log
	ok $? "SIGKILL of the zygote (pid $zpid): a new one (pid $z2), 2 ready again, reelbox_pool_zygote $(metric reelbox_pool_zygote), logged $(grep -c pool_zygote_restarted "$T"/w1.log)"
	sub afterzkill "$S/numpy.py"
	check "a job after it renders warm ($(warm_of afterzkill))" [ "$(warm_of afterzkill)" = "true None" ]
fi
stop_worker
check "SIGTERM: the worker exits 0 ($WRC)" [ "$WRC" -eq 0 ]
left=$(find "$T/state" -mindepth 1 -maxdepth 1 | wc -l)
check "no state dir left in $T/state ($left)" [ "$left" -eq 0 ]
check "no sandbox cgroup left (the worker's rbx-$WPID_1-* dirs: $(cg_dirs))" [ "$(cg_dirs)" -eq 0 ]

printf '{"result_ttl": 600, "state_dir": "%s", "pool": {"python3": 1, "max_age": 10}}\n' "$T/state" >"$CFG"
start_worker w2
ok $? "a worker with pool.python3 1 and pool.max_age 10 from the config starts"
for _ in $(seq 300); do
	[ "$(metric 'reelbox_pool_events_total{event="expired"}')" -ge 1 ] && break
	sleep 0.1
done
exp=$(metric 'reelbox_pool_events_total{event="expired"}')
wait_metric 'reelbox_pool_sandboxes{state="ready"}' 1 60
r=$?
[ "$exp" -ge 1 ] && [ $r -eq 0 ]
ok $? "a ready member older than max_age is replaced (expired $exp, 1 ready again)"
stop_worker
check "that worker exits 0 too ($WRC)" [ "$WRC" -eq 0 ]

echo "== f. bad settings"
out=$("$BIN" worker --pool 65 2>&1)
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -q -- "--pool '65'" <<<"$out"
ok $? "--pool 65: usage error 2 in one line ($out)"
printf '{"pool": {"sh": 2}}\n' >"$T/bad.json"
out=$("$BIN" worker --config "$T/bad.json" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -q "pool.sh" <<<"$out" && grep -q python3 <<<"$out"
ok $? "a pool for sh: usage error 2 naming the key and the known ones ($out)"

echo "== f2. a warm script ends as a cold one does (run --warm against run, the same script)"
# Each writes its 2 frames, then ends its own way; the result's status, exit code and
# signal, and the log's last line, must be the cold run's.
W='import sys; sys.stdout.buffer.write(bytes(64*48*3*2)); sys.stdout.buffer.flush()'
printf '%s\nsys.stdout.close()\n' "$W" >"$S/end_close.py"
printf '%s\nraise KeyboardInterrupt\n' "$W" >"$S/end_sigint.py"
printf '%s\nclass D:\n    def __del__(self):\n        sys.stderr.write("del sees %%s\\n" %% sys.platform)\nd = D()\n' "$W" >"$S/end_del.py"
printf '%s\nimport gc, os\ngc.collect = None\nos._exit = None\nsys.exit(11)\n' "$W" >"$S/end_clobber.py"
printf '\xef\xbb\xbf# coding: utf-8\n%s\n' "$W" >"$S/end_bom.py"
printf '%s\nimport atexit\natexit.register(lambda: sys.stderr.write("atexit ran\\n"))\nsys.exit("bye")\n' "$W" >"$S/end_msg.py"
printf '%s\nclass Wr:\n    def write(self, s): return len(s)\n    def flush(self): raise OSError("flush failed")\nsys.stdout = Wr()\n' "$W" >"$S/end_flush.py"
ends() { # ends SCRIPT [--warm]: "status exit signal | last log line"
	"$BIN" run --config "$CFG" ${2:-} --json --size 64x48 --fps 10 --frames 2 -o "$T/end.mp4" "$1" 2>/dev/null |
		"$PY" -c 'import json, sys; d = json.load(sys.stdin); l = d["log"].strip().splitlines()
print(d["status"], d["exit_code"], d["signal"], "warm" if d.get("warm") else "cold", "|", l[-1] if l else "")'
}
for f in end_close end_sigint end_del end_clobber end_bom end_msg end_flush; do
	w=$(ends "$S/$f.py" --warm)
	c=$(ends "$S/$f.py")
	[ "${w/ warm |/ |}" = "${c/ cold |/ |}" ] && grep -q ' warm |' <<<"$w"
	ok $? "$f: warm ($w) ends as cold ($c)"
done

echo "== g. nothing left"
check "no state dir left ($(find "$T/state" -mindepth 1 -maxdepth 1 | wc -l))" [ "$(find "$T/state" -mindepth 1 -maxdepth 1 | wc -l)" -eq 0 ]
check "no sandbox cgroup of either worker left ($(cg_dirs) rbx-<pid>-* dirs)" [ "$(cg_dirs)" -eq 0 ]
nonjson=$(cat "$T"/w*.log | grep -v -c '^{')
check "worker logs are JSON lines only ($nonjson other lines)" [ "$nonjson" -eq 0 ]
finish
