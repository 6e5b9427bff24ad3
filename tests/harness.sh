# harness.sh - what every integration test shares, sourced: the binary and source dir,
# the PASS/FAIL counters and their helpers, the tools check, a free port.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
#   need redis-server ffprobe     # FAIL and exit unless each tool is on PATH
#   check "what" cmd args...      # PASS when the command succeeds
#   cond; ok $? "what"            # PASS when the condition ($?) was 0
#   finish                        # "N passed, M failed", exit 1 if any failed
#
# Older suites carry their own copies of these; new ones source this file.

SRC=$(cd "${REELBOX_SOURCE_DIR:-.}" && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PY=/usr/bin/python3

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
check() { # check DESCRIPTION COMMAND...: PASS when the command succeeds
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
ok() { if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
need() { # need TOOL...: each on PATH, and the reelbox binary built
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			fail "$tool is required"
			finish
		}
	done
	[ -x "$BIN" ] || {
		fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
		finish
	}
}
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# gvisor_or_skip NAME: the gvisor tier's suites run only where runsc really starts a
# sandbox (a real start, `exec --tier gvisor -- /bin/true`); elsewhere they print why and
# pass, SKIP being no claim about the tier.
gvisor_or_skip() {
	local why
	if ! why=$("$BIN" exec --tier gvisor -- /bin/true 2>&1 >/dev/null); then
		echo "SKIP $1: the gvisor tier cannot start on this host: ${why:-exit status $?}"
		exit 0
	fi
}
