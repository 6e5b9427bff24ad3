#!/usr/bin/env bash
# it_hostile.sh - run the hostile corpus (tests/hostile/) against the real sandbox.
#
# Every script of tests/hostile/manifest.tsv runs through `reelbox run --json`. The
# runner sets bait around it first - a private redis-server (TCP on a free port and a
# unix socket), an abstract unix socket that logs connections, a sentinel process,
# canary files with random content in /root, /tmp, /dev/shm and the project dir, a
# victim dir in /var/tmp, secrets in reelbox's environment, stdin and fd 7 - then
# compares what happened with the manifest's expectation and checks the host from the
# outside: a script's own report is never the only evidence.
#
# Usage: tests/it_hostile.sh [ATTACK...]     (default: every row of the manifest)
#        REELBOX_HOSTILE_WARM=1: only the Python rows, each through `run --warm` (a warm
#        pool's sandbox; tests/it_hostile_pool.sh)
#        REELBOX_TIER=gvisor: every row in the gvisor tier (`run --tier gvisor`), against
#        the manifest's gvisor column where gVisor answers a call the native tier's
#        filter kills (tests/it_hostile_gvisor.sh)
# Env:   REELBOX_BIN (build/reelbox), REELBOX_SOURCE_DIR (.), REELBOX_HOSTILE_KEEP=1 keeps
#        the work dir (rendered scripts, JSON summaries, stderr of every run).
# Prints a table (attack | expected | observed | contained), details of every row that is
# not contained, and "N passed, M failed"; exits 1 if any row is not contained.
set -uo pipefail

SRC=$(cd "${REELBOX_SOURCE_DIR:-.}" && pwd)
BIN=${REELBOX_BIN:-build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
HOSTILE=$SRC/tests/hostile
MANIFEST=$HOSTILE/manifest.tsv
PY=/usr/bin/python3
DEFAULT_OPTS=(--size 64x48 --fps 10 --frames 5 --timeout 10 --memory 128 --pids 32 --scratch 16)
TIER=${REELBOX_TIER:-native}
[ "$TIER" = native ] || DEFAULT_OPTS+=(--tier "$TIER")
# maxtime:S in the gvisor tier: S plus this, gVisor's dearer start (python3 in ~1.2 s
# against ~0.2 s natively, bench/tiers_results.md) and its ptrace platform's dearer calls
MAXTIME_SLACK=0
[ "$TIER" = gvisor ] && MAXTIME_SLACK=3
SLACK=10

die() { echo "it_hostile: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no reelbox binary at $BIN (set REELBOX_BIN)"
[ -f "$MANIFEST" ] || die "no manifest at $MANIFEST"
for tool in redis-server redis-cli jq ffprobe sha256sum timeout; do
	command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$PY" ] || die "$PY is required"

rand() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
MARKER=rbh$(rand 5)
SENTINEL=rbsentinel$(rand 5)
ABSTRACT=reelbox-hostile-bait-$(rand 4)
WORK=$(mktemp -d /tmp/reelbox-hostile.XXXXXX) || die "mktemp failed"
chmod 755 "$WORK"
mkdir -p "$WORK/jobs" "$WORK/out" "$WORK/res"
STATE=$WORK/state
printf '{"state_dir": "%s"}\n' "$STATE" >"$WORK/config.json"
printf '%s\n' "$MARKER" >"$WORK/marker.pat"
# A warm sandbox's processes show the pool loader's command line, not the script's path,
# or the zygote's when one cloned it: `run --warm`'s member runs in slot 1, host uid
# 1500001 (sandbox/ids.c, as root); the zygote itself is root's.
printf '%s\n' _reelbox_warm __zygote >"$WORK/warm.pat"
WARM_UID=1500001

PIDS_TO_KILL=()
CANARIES=(/root/reelbox-canary-$MARKER /tmp/reelbox-canary-$MARKER /dev/shm/reelbox-canary-$MARKER
	"$HOSTILE/.canary-$MARKER")
VICTIM=/var/tmp/reelbox-hostile-victim-$MARKER
SYSCTL_SAVED=()

cleanup() {
	local p
	for p in "${PIDS_TO_KILL[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS_TO_KILL[@]}"; do wait "$p" 2>/dev/null; done
	rm -f "${CANARIES[@]}"
	rm -rf "$VICTIM"
	if [ "${REELBOX_HOSTILE_KEEP:-0}" = 1 ]; then
		echo "it_hostile: kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- bait -----------------------------------------------------------------------------
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REDIS_SOCK=$WORK/redis.sock
bind="127.0.0.1"
[ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 0 ] && bind="127.0.0.1 -::1"
redis-server --port "$PORT" --bind $bind --unixsocket "$REDIS_SOCK" --unixsocketperm 777 \
	--save '' --appendonly no --dir "$WORK" --protected-mode no --daemonize no \
	--logfile "$WORK/redis.log" &
REDIS_PID=$!
PIDS_TO_KILL+=("$REDIS_PID")
for _ in $(seq 50); do
	redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
	sleep 0.1
done
redis-cli -p "$PORT" ping >/dev/null 2>&1 || die "the bait redis-server did not start"
redis-cli -p "$PORT" set secret-key "rbsecret-redis-$(rand 8)" >/dev/null

# The abstract-socket bait: accepts and logs every connection (abstract names are not files:
# only a network namespace hides them).
BAIT_LOG=$WORK/abstract.log
: >"$BAIT_LOG"
BAIT_NAME=$ABSTRACT BAIT_LOG=$BAIT_LOG $PY -c '
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + os.environ["BAIT_NAME"]); s.listen(16)
while True:
    c, _ = s.accept()
    with open(os.environ["BAIT_LOG"], "a") as f: f.write("connection\n")
    c.close()
' &
PIDS_TO_KILL+=("$!")

# The sentinel: a host process a script must neither see nor kill.
bash -c "exec -a $SENTINEL sleep 100000" &
SENTINEL_PID=$!
PIDS_TO_KILL+=("$SENTINEL_PID")

# Canaries and the victim dir, world-writable on purpose: only the sandbox's mount
# namespace may protect them, not their permissions.
for c in "${CANARIES[@]}"; do
	printf 'canary-%s\n' "$(rand 16)" >"$c" && chmod 666 "$c" || die "cannot create canary $c"
done
mkdir -p "$VICTIM/sub" && chmod 777 "$VICTIM" "$VICTIM/sub"
printf 'victim-%s\n' "$(rand 16)" >"$VICTIM/keep.txt"
printf 'victim-%s\n' "$(rand 16)" >"$VICTIM/sub/x.txt"
chmod 666 "$VICTIM/keep.txt" "$VICTIM/sub/x.txt"
# One fingerprint of every canary and of the victim tree (names, types, modes, link
# counts, contents): two processes per row, however slow forking is on a loaded host.
fingerprint() {
	local -a entries=("$VICTIM" "$VICTIM"/* "$VICTIM"/.[!.]* "$VICTIM"/*/* "$VICTIM"/*/.[!.]*)
	stat -c '%n %F %a %h %s %Y' "${CANARIES[@]}" "${entries[@]}" 2>/dev/null
	sha256sum "${CANARIES[@]}" "$VICTIM/keep.txt" "$VICTIM/sub/x.txt" 2>&1
}
HOST_FP=$(fingerprint)

# Some virtual machines fault on "int 0x80" (SIGSEGV) even outside any sandbox: the kernel
# never sees the call, so no filter can answer it. Probe it here, on the host; the
# expectation int80segv accepts a job killed by SIGSEGV only when this probe was too.
$PY - >/dev/null 2>&1 <<'PYEOF'
import ctypes, mmap
code = bytes([0xB8, 0x14, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20 (i386 getpid); int 0x80; ret
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
PYEOF
case $? in
0) INT80_HOST=works ;;
139) INT80_HOST=segv ;;
*) INT80_HOST=other ;;
esac
echo "it_hostile: int 0x80 on the host, outside any sandbox: $INT80_HOST"
echo "it_hostile: tier $TIER (maxtime checks +$MAXTIME_SLACK s)"

# Secrets the job must never see: in reelbox's environment, on its stdin and on fd 7.
SECRET_ENV=rbsecret-env-$(rand 8)
SECRET_STDIN=rbsecret-stdin-$(rand 8)
SECRET_FD=rbsecret-fd-$(rand 8)
printf '%s\n' "$SECRET_FD" >"$WORK/secret-fd"
SECRETS=("$SECRET_ENV" "$SECRET_STDIN" "$SECRET_FD")
for c in "${CANARIES[@]}" "$VICTIM/keep.txt" "$VICTIM/sub/x.txt"; do SECRETS+=("$(head -1 "$c")"); done
SECRETS+=("$(redis-cli -p "$PORT" get secret-key)")
printf '%s\n' "${SECRETS[@]}" >"$WORK/secrets.pat"

# --- render the scripts: paste _lib.py, fill in the placeholders, put the marker in the name
CANARY_LIST=$(IFS=:; echo "${CANARIES[*]}")
$PY - "$HOSTILE" "$WORK/jobs" "$MARKER" "MARKER=$MARKER" "REDIS_PORT=$PORT" "REDIS_SOCK=$REDIS_SOCK" \
	"ABSTRACT=$ABSTRACT" "CANARIES=$CANARY_LIST" "VICTIM=$VICTIM" "SENTINEL=$SENTINEL" \
	"BAIT_DIR=$WORK" "TIER=$TIER" <<'PYEOF' || die "cannot render the scripts"
import os, sys
src, dst, marker = sys.argv[1:4]
subs = [a.split("=", 1) for a in sys.argv[4:]]
lib = open(os.path.join(src, "_lib.py")).read()
for fn in os.listdir(src):
    if fn.startswith(("_", ".")) or not fn.endswith((".py", ".sh")):
        continue
    s = open(os.path.join(src, fn)).read().replace("#@include _lib.py\n", lib, 1)
    for k, v in subs:
        s = s.replace("@@%s@@" % k, v)
    stem, ext = fn.rsplit(".", 1)
    with open(os.path.join(dst, "%s--%s.%s" % (stem, marker, ext)), "w") as f:
        f.write(s)
PYEOF

# --- host-side probes -------------------------------------------------------------------
redis_conns() {
	local line
	while IFS= read -r line; do
		[[ $line == total_connections_received:* ]] && { line=${line#*:}; echo "${line%$'\r'}"; }
	done < <(redis-cli -p "$PORT" info stats 2>/dev/null)
}
shmem_kb() {
	local k v rest
	while read -r k v rest; do [ "$k" = Shmem: ] && { echo "$v"; return; }; done </proc/meminfo
}
# the names in DIR (hidden ones too)
list_dir() { # list_dir DIR [NAME...]: the entries of DIR but the NAMEs
	local f n keep d=$1
	shift
	for f in "$d"/* "$d"/.[!.]*; do
		{ [ -e "$f" ] || [ -L "$f" ]; } || continue
		keep=1
		for n in "$@"; do [ "${f##*/}" = "$n" ] && keep=0; done
		[ $keep = 1 ] && printf '%s ' "${f##*/}"
	done
}
count_lines() { local t; t=$(<"$1"); t=${t//[!$'\n']/}; echo "${#t}"; }
disk_avail_kb() { df -k --output=avail / /tmp /var/tmp /dev/shm 2>/dev/null | tail -n +2 | sort -n | head -1; }
marker_procs() {
	# grep reads the marker from a file, so its own command line does not match
	grep -l -a -F -f "$WORK/marker.pat" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | grep -vx "$$"
	if [ "${REELBOX_HOSTILE_WARM:-0}" = 1 ]; then
		local p
		for p in $(grep -l -a -F -f "$WORK/warm.pat" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
			[ "$(stat -c %u "/proc/$p" 2>/dev/null)" = "$WARM_UID" ] && echo "$p"
		done
	fi
}
marker_files() {
	local d
	for d in / /tmp /var/tmp /var/tmp/reelbox /dev/shm /root /etc /run /var/run /home /opt /srv /mnt \
		/usr/local/bin /var/log /var/lib /work "$SRC" "$HOSTILE" "$WORK"; do
		compgen -G "$d/*hostile-$MARKER-*" || true
		compgen -G "$d/.*hostile-$MARKER-*" || true
	done
}
file_hash() {
	local p=$1
	[ "$p" = BIN ] && p=$BIN
	sha256sum "$p" 2>/dev/null | cut -d' ' -f1 || echo missing
}

# --- reelbox's own process (checks selfcpu:S, selfrss:MB) --------------------------------
# The script and the encoder run in their own confined processes; reelbox only supervises.
# These checks sample reelbox's own process alone, so an encode, a frame buffer or a
# rescale that lands in the supervisor shows up as its CPU time or peak memory.
#
# self_poll PIDFILE OUT DONE: once PIDFILE names a pid, sample that process every ~50 ms
# until it is gone or the file DONE exists. OUT holds the last sample, "CPU_MS VMHWM_KB":
# utime + stime of /proc/PID/stat (its own, not its children's) and VmHWM of
# /proc/PID/status. Builtins only in the loop, but for the sleep.
self_poll() {
	local pidfile=$1 out=$2 done=$3 pid='' start='' line hwm='' k v rest tck
	local -a st
	tck=$(getconf CLK_TCK)
	until [ -n "$pid" ]; do
		[ -e "$done" ] && return
		read -r pid 2>/dev/null <"$pidfile" || { pid=''; sleep 0.01; }
	done
	while [ ! -e "$done" ]; do
		read -r line 2>/dev/null <"/proc/$pid/stat" || break
		# the fields after "pid (comm) ": [11] utime, [12] stime, [19] starttime
		read -r -a st <<<"${line##*) }"
		: "${start:=${st[19]}}"
		[ "${st[19]}" = "$start" ] || break # the pid was reused
		# a zombie has no VmHWM line: its last one stands
		while read -r k v rest; do [ "$k" = VmHWM: ] && hwm=$v; done 2>/dev/null <"/proc/$pid/status"
		printf '%s %s\n' $(((st[11] + st[12]) * 1000 / tck)) "${hwm:-0}" >"$out"
		sleep 0.05
	done
}
# secs_ms S: seconds with up to three decimals ("1", "0.5") in milliseconds
secs_ms() {
	local i=${1%%.*} frac=''
	[[ $1 == *.* ]] && frac=${1#*.}
	frac=${frac}000
	echo $((10#${i:-0} * 1000 + 10#${frac:0:3}))
}
# self_check KIND LIMIT SAMPLE: adds to run_row's problems when SAMPLE (self_poll's last
# line) is over LIMIT, or when there is no sample at all.
self_check() {
	local kind=$1 limit=$2 cpu hwm
	if [ -z "$3" ]; then
		problems+=("$kind: no sample of reelbox's own process was taken")
		return
	fi
	read -r cpu hwm <<<"$3"
	case $kind in
	selfcpu) [ "$cpu" -le "$(secs_ms "$limit")" ] || problems+=("reelbox's own cpu time was $cpu ms, over $limit s") ;;
	selfrss) [ "$hwm" -le $((limit * 1024)) ] || problems+=("reelbox's own VmHWM was $((hwm / 1024)) MB, over $limit MB") ;;
	esac
}

# strict_json FILE: silent when FILE is one JSON document in valid UTF-8 with no lone
# surrogate; otherwise prints why and fails. jq alone would pass invalid UTF-8, which it
# repairs silently.
strict_json() {
	$PY - "$1" <<'EOF'
import json, sys
def walk(v):
    if isinstance(v, str):
        v.encode("utf-8")  # a lone surrogate ("\ud800") fails here
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
try:
    walk(json.loads(open(sys.argv[1], "rb").read().decode("utf-8")))
except ValueError as e:  # JSONDecodeError and UnicodeError are ValueErrors
    print(str(e)[:160])
    sys.exit(1)
EOF
}

# --- kernel budgets (check probe:KIND:MAX) -------------------------------------------------
# tests/hostile/_hostprobe.py runs as root beside the job: once the job holds its inotify
# instances (KIND inotify) or queued signals (KIND sigqueue), it counts them from /proc and
# tries the same budget on the host, and writes "job=N host=M base=B".
# probe_check KIND MAX PID OUT: adds to run_row's problems when the job held more than MAX,
# when the host got less than it got before the job (inotify: instances out of 32;
# sigqueue: timer_create's errno), or when the probe never saw the job hold any.
probe_check() {
	local kind=$1 max=$2 pid=$3 out=$4 line kv job= host= base=
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if ! read -r line 2>/dev/null <"$out"; then
		problems+=("the host probe never saw the job hold any $kind")
		return
	fi
	for kv in $line; do
		case ${kv%%=*} in job) job=${kv#*=} ;; host) host=${kv#*=} ;; base) base=${kv#*=} ;; esac
	done
	[ "$job" -le "$max" ] || problems+=("the job held $job $kind, over $max (seen from the host)")
	case $kind in
	inotify) [ "$host" -ge "$base" ] || problems+=("root got $host of $base inotify instances while the job held $job") ;;
	sigqueue) [ "$host" = 0 ] || [ "$base" != 0 ] || problems+=("root's timer_create failed (errno $host) while the job had $job signals queued") ;;
	esac
}

# --- expectation --------------------------------------------------------------------------
# match EXPECT STATUS RC ERROR: 0 if one of the alternatives holds; sets MATCH_NOTE.
match() {
	local expect=$1 status=$2 rc=$3 err=$4 alt text names n
	local lerr=${err,,}
	MATCH_NOTE=
	IFS='|' read -r -a alts <<<"$expect"
	for alt in "${alts[@]}"; do
		case $alt in
		int80segv)
			[ "$INT80_HOST" = segv ] && [ "$status" = failed ] && [ "$rc" = 1 ] &&
				[[ $lerr == *sigsegv* ]] && return 0 ;;
		succeeds)
			[ "$status" = succeeded ] && [ "$rc" = 0 ] && return 0 ;;
		fails:*)
			text=${alt#fails:}
			[ "$status" = failed ] && [ "$rc" = 1 ] && [[ $lerr == *"${text,,}"* ]] && return 0 ;;
		sigsys:*)
			names=${alt#sigsys:}
			if [ "$status" = failed ] && [ "$rc" = 1 ] && [[ $lerr == *sigsys* ]]; then
				IFS=',' read -r -a ns <<<"$names"
				for n in "${ns[@]}"; do
					[[ $lerr =~ (^|[^a-z0-9_])${n}([^a-z0-9_]|$) ]] && return 0
				done
				MATCH_NOTE="SIGSYS, but the error does not name the call ($names)"
			fi ;;
		esac
	done
	return 1
}

# --- one row ------------------------------------------------------------------------------
PASS=0 FAIL=0
ROWS=()
DETAILS=()
run_row() {
	local attack=$1 expect=$2 opts=$3 checks=$4 gvisor_expect=${5:--}
	local stem=${attack%.*} ext=${attack##*.}
	local job=$WORK/jobs/$stem--$MARKER.$ext res=$WORK/res/$stem out=$WORK/out/$stem.mp4
	local -a extra=() problems=() chk=()
	local timeout=10 t c k v

	[ -f "$job" ] || { ROWS+=("$(printf '%-34s | %-36s | %-62s | %s' "$attack" "$expect" "script missing" NO)"); FAIL=$((FAIL + 1)); return; }
	[ "$opts" = - ] || read -r -a extra <<<"$opts"
	# The gvisor tier: the Sentry answers what the native filter kills; its column says
	# what contained looks like there
	[ "$TIER" = gvisor ] && [ "$gvisor_expect" != - ] && expect=$gvisor_expect
	# REELBOX_HOSTILE_WARM=1 (tests/it_hostile_pool.sh): the Python rows, each through a
	# warm sandbox (run --warm: the worker pool's path, pool.c), none of the others
	if [ "${REELBOX_HOSTILE_WARM:-0}" = 1 ]; then
		[ "$ext" = py ] || return 0
		extra=(--warm "${extra[@]}")
	fi
	for ((t = 0; t < ${#DEFAULT_OPTS[@]}; t++)); do
		[ "${DEFAULT_OPTS[t]}" = --timeout ] && timeout=${DEFAULT_OPTS[t + 1]}
	done
	for ((t = 0; t < ${#extra[@]}; t++)); do
		[ "${extra[t]}" = --timeout ] && timeout=${extra[t + 1]}
	done
	[ "$checks" = - ] || IFS=',' read -r -a chk <<<"$checks"

	# before
	local conns0 bait0 shm0 disk0 dmesg0
	local -A hash0=() sysctl0=() probe_pid=()
	conns0=$(redis_conns)
	bait0=$(count_lines "$BAIT_LOG")
	shm0=$(shmem_kb)
	[[ ,$checks, == *,diskfree:* ]] && disk0=$(disk_avail_kb)
	for c in "${chk[@]}"; do
		k=${c%%:*} v=${c#*:}
		case $k in
		hash) hash0[$v]=$(file_hash "$v") ;;
		sysctl) sysctl0[$v]=$(cat "/proc/sys/$v" 2>/dev/null) ;;
		dmesg) dmesg0=$(dmesg 2>/dev/null | grep -ci -- "$v") ;;
		probe)
			# the gvisor tier: the job's inotify instances and signals are the Sentry's
			[ "$TIER" = gvisor ] && continue
			rm -f "$res.probe-${v%%:*}"
			$PY "$HOSTILE/_hostprobe.py" "${v%%:*}" "$WORK/marker.pat" "$res.probe-${v%%:*}" &
			probe_pid[$v]=$! ;;
		esac
	done

	# run
	local t0 t1 rc elapsed
	# selfcpu/selfrss: reelbox starts through sh, which writes its pid for self_poll first
	local self_poller='' self_sample=''
	local -a self_wrap=()
	if [[ ,$checks, == *,self* ]]; then
		rm -f "$res.pid" "$res.self" "$res.done"
		self_wrap=(/bin/sh -c 'echo $$ >"$0" && exec "$@"' "$res.pid")
		self_poll "$res.pid" "$res.self" "$res.done" &
		self_poller=$!
	fi
	t0=${EPOCHREALTIME/./}
	REELBOX_HOSTILE_SECRET=$SECRET_ENV AWS_SECRET_ACCESS_KEY=$SECRET_ENV REDIS_PASSWORD=$SECRET_ENV \
		REELBOX_REDIS_URL="redis://:$SECRET_ENV@127.0.0.1:$PORT" \
		timeout -k 5 $((timeout + 60)) "${self_wrap[@]}" "$BIN" run --json --config "$WORK/config.json" -o "$out" \
		"${DEFAULT_OPTS[@]}" "${extra[@]}" "$job" \
		<<<"$SECRET_STDIN" 7<"$WORK/secret-fd" >"$res.json" 2> >(tail -c 262144 >"$res.stderr")
	rc=$?
	[ -n "$self_poller" ] && : >"$res.done"
	local tail_pid=$!
	t1=${EPOCHREALTIME/./}
	elapsed=$(((t1 - t0) / 1000))
	# the tail of stderr: wait for it only if $! really is the process substitution
	[ "$tail_pid" != "$SENTINEL_PID" ] && wait "$tail_pid" 2>/dev/null
	if [ -n "$self_poller" ]; then
		wait "$self_poller" 2>/dev/null
		read -r self_sample 2>/dev/null <"$res.self" || self_sample=
	fi

	# what reelbox said
	local status= err= log= frames= observed
	if [ -s "$res.json" ] && jq -r '.log // ""' "$res.json" >"$res.log" 2>/dev/null; then
		{ IFS= read -r status; IFS= read -r frames; IFS= read -r err; } < <(jq -r \
			'(.status // ""), (.frames // "" | tostring), (.error // "" | gsub("[\n\t]"; " "))' "$res.json")
		log=$(<"$res.log")
	fi
	local breach_line
	breach_line=$(grep -h -m1 -o 'BREACH: .*' "$res.log" 2>/dev/null)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		observed="reelbox hung: killed after $((timeout + 60)) s"
	elif [ -z "$status" ]; then
		observed="no JSON summary (exit $rc): $(tail -c 120 "$res.stderr" | tr '\n' ' ')"
	elif [ "$status" = succeeded ]; then
		observed="succeeded ($frames frames)"
	else
		observed="failed: $err"
	fi
	[ -n "$breach_line" ] && observed="$breach_line"

	if [ "${REELBOX_HOSTILE_WARM:-0}" = 1 ] && [ -n "$status" ] &&
		[ "$(jq -r '.warm // false' "$res.json" 2>/dev/null)" != true ]; then
		problems+=("ran cold: --warm did not give it a warm sandbox")
	fi
	# expectation
	if ! match "$expect" "$status" "$rc" "$err"; then
		problems+=("expected $expect${MATCH_NOTE:+ ($MATCH_NOTE)}")
	fi
	if [ -n "$status" ]; then
		{ [ "$status" = succeeded ] && [ "$rc" != 0 ]; } && problems+=("status succeeded but exit $rc")
		{ [ "$status" = failed ] && [ "$rc" != 1 ]; } && problems+=("status failed but exit $rc")
	fi

	# host side: always
	local p s
	p=$(marker_procs)
	if [ -n "$p" ]; then
		sleep 1
		p=$(marker_procs)
		if [ -n "$p" ]; then
			problems+=("processes left on the host: $(for x in $p; do tr '\0' ' ' <"/proc/$x/cmdline" 2>/dev/null | cut -c1-60; echo -n "[$x] "; done)")
			for x in $p; do kill -9 "$x" 2>/dev/null; done
		fi
	fi
	s=$(marker_files)
	[ -n "$s" ] && problems+=("files created on the host: $(echo $s)") && rm -rf $s
	local fp
	fp=$(fingerprint)
	if [ "$fp" != "$HOST_FP" ]; then
		problems+=("a canary or the victim dir changed: $(diff <(echo "$HOST_FP") <(echo "$fp") | grep '^[<>]' | head -3 | tr '\n' ' ')")
	fi
	local c1
	c1=$(redis_conns)
	[ -n "$conns0" ] && [ -n "$c1" ] && [ $((c1 - conns0)) -ne 1 ] && problems+=("the bait redis got $((c1 - conns0 - 1)) connection(s)")
	[ "$(count_lines "$BAIT_LOG")" = "$bait0" ] || problems+=("the abstract-socket bait got a connection")
	kill -0 "$SENTINEL_PID" 2>/dev/null || problems+=("the host's sentinel process was killed")
	kill -0 "$REDIS_PID" 2>/dev/null || problems+=("the bait redis-server died")
	s=$(grep -ohF -f "$WORK/secrets.pat" "$res.json" "$res.stderr" 2>/dev/null | sort -u | head -3)
	[ -n "$s" ] && problems+=("a secret reached the log: $(echo $s)")
	s=$(list_dir "$STATE")
	[ -n "$s" ] && problems+=("the state dir is not empty: ${s:0:200}")
	[ "$elapsed" -le $(((timeout + SLACK) * 1000)) ] || problems+=("took ${elapsed} ms, over the ${timeout} s timeout + ${SLACK} s")
	if [ "$status" = succeeded ]; then
		[ -s "$out" ] || problems+=("succeeded but $out is missing")
	elif [ -e "$out" ]; then
		problems+=("failed job left an output file")
	fi
	# a succeeded job's poster (<stem>.jpg) is the only other file it may leave
	if [ "$status" = succeeded ]; then
		poster=${out##*/}
		poster=${poster%.*}.jpg
	else
		poster=
	fi
	s=$(list_dir "$WORK/out" "${out##*/}" ${poster:+"$poster"})
	[ -n "$s" ] && problems+=("stray files next to the output: $s")

	# host side: per row
	for c in "${chk[@]}"; do
		k=${c%%:*} v=${c#*:}
		case $k in
		maxtime) [ "$elapsed" -le $(((v + MAXTIME_SLACK) * 1000)) ] || problems+=("took ${elapsed} ms, over ${v} s (+${MAXTIME_SLACK} s)") ;;
		frames)
			if [ -s "$out" ]; then
				local n
				n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$out" </dev/null 2>/dev/null)
				[ "$n" = "$v" ] || problems+=("output has ${n:-no} frames, not $v")
			fi ;;
		hash) [ "$(file_hash "$v")" = "${hash0[$v]}" ] || problems+=("$v changed") ;;
		probe) [ "$TIER" = gvisor ] || probe_check "${v%%:*}" "${v#*:}" "${probe_pid[$v]}" "$res.probe-${v%%:*}" ;;
		sysctl)
			local now
			now=$(cat "/proc/sys/$v" 2>/dev/null)
			if [ "$now" != "${sysctl0[$v]}" ]; then
				problems+=("host sysctl $v changed: ${sysctl0[$v]} -> $now (restored)")
				echo "${sysctl0[$v]}" >"/proc/sys/$v"
			fi ;;
		shmem) local shm1; shm1=$(shmem_kb); [ $((shm1 - shm0)) -le $((v * 1024)) ] || problems+=("host Shmem grew by $(((shm1 - shm0) / 1024)) MB") ;;
		diskfree) local d1; d1=$(disk_avail_kb); [ $((disk0 - d1)) -le $((v * 1024)) ] || problems+=("host free disk shrank by $(((disk0 - d1) / 1024)) MB") ;;
		dmesg) [ "$(dmesg 2>/dev/null | grep -ci -- "$v")" = "$dmesg0" ] || problems+=("new '$v' lines in the host's kernel log") ;;
		logmax)
			local loglen
			loglen=$(jq -j '.log // ""' "$res.json" 2>/dev/null | wc -c)
			[ "$loglen" -le "$v" ] || problems+=("the summary's log is $loglen bytes, over $v")
			grep -q $'\x1b' "$res.json" "$res.stderr" 2>/dev/null && problems+=("an ESC byte reached the log or reelbox's stderr")
			# C1 controls in UTF-8 (C2 80..C2 9F: CSI is C2 9B), raw or escaped in the JSON
			LC_ALL=C grep -qaP '\xc2[\x80-\x9f]' "$res.json" "$res.stderr" 2>/dev/null &&
				problems+=("a C1 control (UTF-8 C2 80..9F) reached the log or reelbox's stderr")
			# (no grep -q there: under pipefail, jq killed by SIGPIPE would hide the match)
			jq -j '(.log // ""), (.error // "")' "$res.json" 2>/dev/null | LC_ALL=C grep -aP '\x1b|\xc2[\x80-\x9f]' >/dev/null &&
				problems+=("the summary's log or error decodes to an ESC or C1 control (escaped in the JSON)")
			;;
		selfcpu | selfrss) self_check "$k" "$v" "$self_sample" ;;
		json) s=$(strict_json "$res.json") || problems+=("the summary is not strict JSON: $s") ;;
		*) problems+=("unknown check $c in the manifest") ;;
		esac
	done
	rm -f "$WORK"/out/* 2>/dev/null

	local contained=yes
	if [ ${#problems[@]} -gt 0 ]; then
		contained=NO
		FAIL=$((FAIL + 1))
		local d="--- $attack: expected $expect; observed: $observed"$'\n'
		for p in "${problems[@]}"; do d+="    ! $p"$'\n'; done
		[ -n "$err" ] && d+="    error: $err"$'\n'
		d+="    log tail:"$'\n'"$(printf '%s\n' "$log" | grep -v '^flood x' | tail -n 8 | cut -c1-200 | sed 's/^/      /')"
		DETAILS+=("$d")
		# a host-side problem is the headline when the expectation itself was met
		[[ ${problems[0]} == expected* ]] || observed="$observed [host: ${problems[0]}]"
	else
		PASS=$((PASS + 1))
	fi
	local row
	row=$(printf '%-34s | %-36s | %-62s | %s' "$attack" "$expect" "${observed:0:62}" "$contained")
	ROWS+=("$row")
	printf '%s\n' "$row"
	if [ -n "$self_sample" ]; then
		read -r c k <<<"$self_sample"
		printf '%-34s   reelbox itself: cpu %s ms, VmHWM %s MB; elapsed %s ms\n' "" "$c" $((k / 1024)) "$elapsed"
	fi
}

# --- main ---------------------------------------------------------------------------------
printf '%-34s | %-36s | %-62s | %s\n' attack expected observed contained
printf '%s\n' "$(printf '%.0s-' {1..145})"
START=$(date +%s)
while IFS=$'\t' read -r -u 3 attack expect opts checks gvisor_expect; do
	[ -z "$attack" ] || [[ $attack == \#* ]] && continue
	if [ $# -gt 0 ]; then
		want=0
		for a in "$@"; do [ "$a" = "$attack" ] || [ "$a" = "${attack%.*}" ] && want=1; done
		[ $want = 1 ] || continue
	fi
	run_row "$attack" "$expect" "${opts:--}" "${checks:--}" "${gvisor_expect:--}"
done 3<"$MANIFEST"

echo
echo "== summary ($(($(date +%s) - START)) s)"
printf '%-34s | %-36s | %-62s | %s\n' attack expected observed contained
printf '%s\n' "${ROWS[@]}"
if [ ${#DETAILS[@]} -gt 0 ]; then
	echo
	echo "== rows not contained"
	printf '%s\n' "${DETAILS[@]}"
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
