#!/usr/bin/env bash
# Integration test of the lazily loaded libraries (issue 16, cold start): reelbox links
# neither libcurl, libmicrohttpd nor OpenSSL, `reelbox exec` never maps them, and what
# uses them loads them on first use:
#
#  a. readelf: no DT_NEEDED entry for libcurl, libmicrohttpd, libssl or libcrypto;
#  b. `reelbox exec -- /bin/true` under LD_DEBUG=files: none of them (nor libav) is
#     loaded, and it still exits 0;
#  c. a worker with --metrics-port against a private redis-server loads libmicrohttpd
#     and serves /metrics;
#  d. a missing library is one sentence where it is used, not a crash: libmicrohttpd
#     hidden (a bind mount of /dev/null over it, in a user and mount namespace of this
#     test's own) makes `reelbox web` say "cannot load libmicrohttpd.so.12: ...; install
#     libmicrohttpd12" and exit 2 while `reelbox exec --help` still starts (a sandbox
#     cannot be made inside that namespace: b covers what exec maps).
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default: the
# repository holding this file), REELBOX_IT_KEEP=1 keeps the temp dir. Needs readelf,
# redis-server, /usr/bin/python3 and (for d) unshare with user namespaces; a check whose
# tool is missing is skipped, said so. Prints one PASS/FAIL line per check and ends
# with "N passed, M failed". A few seconds.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PY=/usr/bin/python3
T=$(mktemp -d /tmp/reelbox-it-lazy.XXXXXX)
PASSED=0 FAILED=0
PIDS=()

pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1"; FAILED=$((FAILED + 1)); }
check() { # check DESCRIPTION COMMAND...: PASS when the command succeeds
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ "${REELBOX_IT_KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

LAZY='lib(curl|microhttpd|ssl|crypto)\.so'

# ==== a. the binary's DT_NEEDED ========================================================
echo "== the binary"
if command -v readelf >/dev/null; then
	readelf -d "$BIN" | grep NEEDED >"$T/needed"
	check "reelbox needs none of libcurl, libmicrohttpd, libssl, libcrypto ($(wc -l <"$T/needed") NEEDED)" \
		bash -c "! grep -Eq '$LAZY' '$T/needed'"
else
	echo "SKIP readelf not installed"
fi

# ==== b. what `reelbox exec` maps ======================================================
echo "== exec"
LD_DEBUG=files "$BIN" exec -- /bin/true 2>"$T/ld.log"
rc=$?
check "reelbox exec -- /bin/true exits 0 (got $rc)" [ "$rc" = 0 ]
check "reelbox exec -- /bin/true loads none of them nor libav ($(grep -c 'file=' "$T/ld.log") files loaded)" \
	bash -c "grep -q 'file=' '$T/ld.log' && ! grep -Eq 'file=($LAZY|libav)' '$T/ld.log'"

# ==== c. a worker's metrics port ========================================================
echo "== metrics"
if command -v redis-server >/dev/null; then
	RPORT=$(free_port)
	mkdir -p "$T/redis" "$T/out"
	redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$T/redis" --save '' >/dev/null 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do
		"$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' \
			"$RPORT" 2>/dev/null && break
		sleep 0.1
	done
	MPORT=$(free_port)
	REELBOX_REDIS_URL=redis://127.0.0.1:$RPORT LD_DEBUG=files \
		"$BIN" worker --concurrency 1 --output-dir "$T/out" --metrics-port "$MPORT" \
		2>"$T/worker.log" &
	PIDS+=($!)
	metrics= # up to 60 s: a sanitizer build on a loaded machine starts slowly
	for _ in $(seq 300); do
		metrics=$("$PY" -c 'import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=2).read().decode())' \
			"$MPORT" 2>/dev/null) && [ -n "$metrics" ] && break
		sleep 0.1
	done
	echo "$metrics" >"$T/metrics"
	check "a worker with --metrics-port serves /metrics ($(grep -c '^reelbox_' "$T/metrics") reelbox_ lines)" \
		grep -q '^reelbox_' "$T/metrics"
	check "... having loaded libmicrohttpd itself, on first use" \
		grep -q 'file=libmicrohttpd.so.*dynamically loaded by' "$T/worker.log"
else
	echo "SKIP redis-server not installed"
fi

# ==== d. a missing library ==============================================================
echo "== a missing library"
MHD=$("$PY" -c 'import os
for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
    p = os.path.join(d, "libmicrohttpd.so.12")
    if os.path.exists(p):
        print(os.path.realpath(p)); break')
if [ -n "$MHD" ] && unshare -rm true 2>/dev/null; then
	# shellcheck disable=SC2016 # the inner shell expands them
	unshare -rm bash -c 'mount --bind /dev/null "$1" && shift && exec "$@"' _ "$MHD" \
		"$BIN" web --listen 127.0.0.1:1 >"$T/web.out" 2>"$T/web.err"
	rc=$?
	err=$(cat "$T/web.err")
	check "without libmicrohttpd, reelbox web exits 2 (got $rc)" [ "$rc" = 2 ]
	check "... saying so in one line: $err" \
		bash -c "[ \$(wc -l <'$T/web.err') = 1 ] && grep -q 'cannot load libmicrohttpd.so.12: .*; install libmicrohttpd12' '$T/web.err'"
	# shellcheck disable=SC2016 # the inner shell expands them
	unshare -rm bash -c 'mount --bind /dev/null "$1" && shift && exec "$@"' _ "$MHD" \
		"$BIN" exec --help >/dev/null 2>"$T/exec.err"
	rc=$?
	check "... while reelbox exec --help still starts and exits 0 (got $rc$(head -c 200 "$T/exec.err"))" [ "$rc" = 0 ]
else
	echo "SKIP no libmicrohttpd.so.12 found or no user namespaces for unshare -rm"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
