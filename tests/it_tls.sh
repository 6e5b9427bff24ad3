#!/usr/bin/env bash
# Integration test of Redis over TLS (rediss://, queue/tls.c) against Debian's real
# redis-server started with --port 0 --tls-port, certificates made here with openssl,
# and a real `reelbox worker` running real jobs in its sandbox:
#
#  - submit, status and a worker run a job over rediss:// with REELBOX_REDIS_CA, as an
#    ACL user with a password (Redis 6+ AUTH user pass), and a 900 KB script crosses
#    the bridge both ways; the worker's bridge directory is 0700 and empty once connected;
#  - refused with one line, exit 2, naming the failure and what to do: no CA (the
#    system store does not know the test CA), a wrong CA, a name the certificate does not
#    hold (127.0.0.2), a plain redis:// client on the TLS port, rediss:// to a Redis
#    without TLS, a missing CA file, a certificate without its key, and a server that
#    requires a client certificate (tls-auth-clients yes) when none is given; with
#    REELBOX_REDIS_CERT/KEY it works; a worker without the CA logs the sentence and
#    retries;
#  - ?insecure=1 works without the CA and warns (the CLI on stderr, the worker in its
#    log);
#  - redis-server restarted while the worker runs: the worker reconnects through the
#    bridge, the next job runs, and the old connections' threads are gone;
#  - a wrong password is one line (WRONGPASS), and the password is in no output (also
#    submit --wait's "waiting for a worker" line), no log, not in /proc/<worker
#    pid>/cmdline or environ; --redis with a password on the command line is refused
#    (exit 2) without echoing it; every bridge directory is removed at close.
# When redis-server was built without TLS the checks are skipped, saying so.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_IT_KEEP=1 keeps the temp dir. Needs redis-server, redis-cli, openssl, python3.
# Prints one PASS/FAIL line per check and ends with "N passed, M failed"; exits 1 when a
# check failed. Bounded: about 30 s, 120 s at most.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-.}
BIN=${REELBOX_BIN:-build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

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
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

for tool in redis-server redis-cli openssl python3 timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-ittls.XXXXXX")
MARK=ittls$$
PW=tlsPw-$$-Zq9x # the ACL user's password: must show up nowhere
OUT=$T/out
mkdir -p "$T/redis" "$T/state" "$T/scripts" "$T/pki" "$T/xdg" "$OUT"
chmod 700 "$T/xdg"
# The bridge makes its private socket directories here, where the checks can see them.
export XDG_RUNTIME_DIR=$T/xdg
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REELBOX_STATE_DIR=$T/state
export REELBOX_CONFIG=$T/config.json
printf '{"result_ttl": 600}\n' >"$REELBOX_CONFIG"
unset REELBOX_REDIS_URL REELBOX_REDIS_CA REELBOX_REDIS_CERT REELBOX_REDIS_KEY
# Everything reelbox prints goes here too, to look for the password at the end.
ALL=$T/all-output
: >"$ALL"
REDIS_PID=
WORKER_PID=
WORKER2_PID=
PLAIN_PID=

cleanup() {
	local p
	exec 2>/dev/null
	for p in "$WORKER_PID" "$WORKER2_PID" "$REDIS_PID" "$PLAIN_PID"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_tls: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Certificates: a CA, the server's (localhost and 127.0.0.1), a wrong CA, a client's.
P=$T/pki
mkcert() { # mkcert NAME CA SUBJECT [SAN]: NAME.key, NAME.crt signed by CA
	openssl req -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "$3" \
		>/dev/null 2>&1 || return 1
	if [ -n "${4:-}" ]; then printf 'subjectAltName=%s\n' "$4" >"$P/$1.ext"; else : >"$P/$1.ext"; fi
	openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial \
		-out "$P/$1.crt" -days 2 -extfile "$P/$1.ext" >/dev/null 2>&1
}
ok=1
for ca in ca wrongca; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/$ca.key" -out "$P/$ca.crt" -days 2 \
		-subj "/CN=reelbox it_tls $ca" >/dev/null 2>&1 || ok=0
done
mkcert server ca "/CN=localhost" "DNS:localhost,IP:127.0.0.1" || ok=0
mkcert client ca "/CN=reelbox-worker" || ok=0
chmod 600 "$P"/*.key
check "openssl made a CA, a server certificate, a wrong CA and a client certificate" [ $ok = 1 ]

# The ACL user survives the restart below through the ACL file.
printf 'user default on nopass ~* &* +@all\nuser tlsuser on >%s ~* &* +@all\n' "$PW" >"$T/users.acl"
start_redis() {
	redis-server --port 0 --tls-port "$PORT" --bind "127.0.0.1 127.0.0.2" \
		--tls-cert-file "$P/server.crt" --tls-key-file "$P/server.key" \
		--tls-ca-cert-file "$P/ca.crt" --tls-auth-clients optional \
		--aclfile "$T/users.acl" --dir "$T/redis" --save '' --appendonly no \
		--logfile "$T/redis/redis.log" >"$T/redis/stdout" 2>&1 &
	REDIS_PID=$!
}
RCLI=(redis-cli --tls --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key"
	-h 127.0.0.1 -p "$PORT")
wait_redis() {
	for _ in $(seq 100); do
		[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
start_redis
if ! wait_redis; then
	if grep -qi "tls" "$T/redis/redis.log" "$T/redis/stdout" 2>/dev/null &&
		! "${RCLI[@]}" ping >/dev/null 2>&1; then
		pass "SKIPPED: this redis-server has no TLS support ($(grep -hi tls "$T/redis/stdout" "$T/redis/redis.log" | head -1)); the TLS checks did not run"
		finish
	fi
	fail "redis-server with --tls-port did not answer (see $T/redis/redis.log)"
	finish
fi
pass "redis-server answers on its TLS port $PORT (redis-cli --tls)"

S=$T/scripts
cat >"$S/${MARK}_ok.sh" <<'EOF'
#!/bin/sh
head -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero
EOF
status_field() { # status_field ID FIELD (with the environment of the caller)
	"$BIN" status --json "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}
wait_state() { # wait_state ID SECONDS STATE
	for _ in $(seq $(($2 * 10))); do
		[ "$(status_field "$1" state)" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}
run() { # run CMD...: output (stdout and stderr) in $out, status in $rc, both kept in $ALL
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$ALL"
}
oneline() { [ "$(printf '%s\n' "$out" | wc -l)" = 1 ]; }

GOOD=rediss://tlsuser:$PW@localhost:$PORT
export REELBOX_REDIS_CA=$P/ca.crt

# ---- The happy path: submit, status, a real worker, over TLS as an ACL user.
run env REELBOX_REDIS_URL="$GOOD" "$BIN" submit --id t_one --size 64x48 --fps 10 --frames 5 "$S/${MARK}_ok.sh"
check "submit over rediss:// with REELBOX_REDIS_CA as ACL user tlsuser (rc $rc)" \
	[ $rc = 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = t_one ]
run env REELBOX_REDIS_URL="$GOOD" "$BIN" status t_one
check "status over rediss:// shows it queued (rc $rc)" [ $rc = 0 ] && grep -q queued <<<"$out"

REELBOX_REDIS_URL=$GOOD "$BIN" worker --concurrency 1 --output-dir "$OUT" \
	--config "$REELBOX_CONFIG" 2>"$T/worker.log" &
WORKER_PID=$!
export REELBOX_REDIS_URL=$GOOD # the CLI's from here on
check "the worker ran the job over rediss:// (succeeded)" wait_state t_one 30 succeeded
check "its video is there" [ -s "$OUT/t_one.mp4" ]
# A 900 KB script: the document crosses the bridge in many TLS records and partial
# writes, up at submit and down at the worker's fetch.
{
	cat "$S/${MARK}_ok.sh"
	python3 -c 'import sys; sys.stdout.write(("# " + "x" * 97 + "\n") * 9000)'
} >"$S/${MARK}_big.sh"
run "$BIN" submit --id t_big --size 64x48 --fps 10 --frames 5 "$S/${MARK}_big.sh"
check "a 900 KB script submitted over rediss:// (rc $rc)" [ $rc = 0 ]
check "... and run by the worker, fetched through the bridge" wait_state t_big 30 succeeded
check "the worker logged its connection over TLS" grep -q "over TLS\"" "$T/worker.log"
check "the worker's /proc/PID/cmdline has no password" \
	[ "$(tr '\0' '\n' <"/proc/$WORKER_PID/cmdline" | grep -c -- "$PW")" = 0 ]
check "the worker's /proc/PID/environ has no password (REELBOX_REDIS_URL wiped after reading)" \
	[ "$(tr '\0' '\n' <"/proc/$WORKER_PID/environ" | grep -c -- "$PW")" = 0 ]
check "the worker's bridge directory is private (0700) and its sockets are gone once connected" \
	python3 - "$T/xdg" <<'EOF'
import glob, os, stat, sys
dirs = glob.glob(sys.argv[1] + "/reelbox-tls-*")
sys.exit(0 if len(dirs) == 1 and stat.S_IMODE(os.stat(dirs[0]).st_mode) == 0o700
         and os.listdir(dirs[0]) == [] else 1)
EOF

# ---- Refusals: one line, exit 2, what failed and what to do.
unset REELBOX_REDIS_CA
run "$BIN" status t_one
check "the system store does not know the test CA: exit 2, one line, verify failure named, REELBOX_REDIS_CA suggested (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q "certificate verify failed" <<<"$out" && grep -q "give the CA in REELBOX_REDIS_CA" <<<"$out"
printf '{"result_ttl": 600, "redis_ca": "%s"}\n' "$P/ca.crt" >"$T/config-ca.json"
run env REELBOX_CONFIG="$T/config-ca.json" "$BIN" status t_one
check "the CA from the config file's redis_ca works (rc $rc)" [ $rc = 0 ] && grep -q succeeded <<<"$out"
run env REELBOX_REDIS_CA="$P/wrongca.crt" "$BIN" status t_one
check "a wrong CA: exit 2, one line, verify failure (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q "certificate verify failed" <<<"$out"
run env REELBOX_REDIS_CA="$P/ca.crt" REELBOX_REDIS_URL="rediss://tlsuser:$PW@127.0.0.2:$PORT" "$BIN" status t_one
check "a name the certificate does not hold (127.0.0.2): exit 2, one line, mismatch named (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q "mismatch" <<<"$out"
run env REELBOX_REDIS_CA="$T/nonexistent.pem" "$BIN" status t_one
check "a CA file that does not exist: exit 2, one line naming it (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q "nonexistent.pem: No such file" <<<"$out"
run env REELBOX_REDIS_URL="redis://127.0.0.1:$PORT" timeout 20 "$BIN" status t_one
check "plain redis:// on the TLS port: fails with one line, no hang (rc $rc: $out)" \
	[ $rc != 0 ] && [ $rc != 124 ] && oneline

PLAIN=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PLAIN" --bind 127.0.0.1 --save '' --appendonly no --dir "$T/redis" \
	--logfile "$T/redis/plain.log" >/dev/null 2>&1 &
PLAIN_PID=$!
for _ in $(seq 50); do [ "$(redis-cli -p "$PLAIN" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
run env REELBOX_REDIS_URL="rediss://127.0.0.1:$PLAIN" timeout 20 "$BIN" status t_one
kill -9 "$PLAIN_PID" 2>/dev/null
wait "$PLAIN_PID" 2>/dev/null
PLAIN_PID=
check "rediss:// to a Redis without TLS: exit 2 within the connect timeout, one line asking if it is a TLS port (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q "is this a TLS port" <<<"$out"

run env REELBOX_REDIS_URL="rediss://tlsuser:$PW@localhost:$PORT?insecure=1" "$BIN" status t_one
check "?insecure=1 works without the CA (rc $rc)" [ $rc = 0 ] && grep -q succeeded <<<"$out"
check "... and warns on stderr" grep -q "warning: .*insecure=1" <<<"$out"
REELBOX_REDIS_URL="rediss://tlsuser:$PW@localhost:$PORT?insecure=1" "$BIN" worker --concurrency 1 \
	--output-dir "$OUT" --config "$REELBOX_CONFIG" 2>"$T/worker2.log" &
WORKER2_PID=$!
for _ in $(seq 50); do grep -q redis_connected "$T/worker2.log" && break; sleep 0.1; done
kill -TERM "$WORKER2_PID" 2>/dev/null
wait "$WORKER2_PID" 2>/dev/null
WORKER2_PID=
check "a worker with ?insecure=1 logs a warning line" grep -q "WARNING: its certificate is not checked" "$T/worker2.log"
"$BIN" worker --concurrency 1 --output-dir "$OUT" --config "$REELBOX_CONFIG" 2>"$T/worker3.log" &
WORKER2_PID=$!
for _ in $(seq 50); do grep -q "certificate verify failed" "$T/worker3.log" && break; sleep 0.1; done
kill -TERM "$WORKER2_PID" 2>/dev/null
wait "$WORKER2_PID" 2>/dev/null
WORKER2_PID=
check "a worker without the CA logs the verify failure and the hint, and retries" \
	grep -q '"event":"redis_lost".*TLS to localhost:[0-9]*.*certificate verify failed.*REELBOX_REDIS_CA; next attempt' "$T/worker3.log"

export REELBOX_REDIS_CA=$P/ca.crt
"${RCLI[@]}" config set tls-auth-clients yes >/dev/null
run "$BIN" status t_one
check "the server requires a client certificate, none given: exit 2, one line saying so (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q "REELBOX_REDIS_CERT" <<<"$out"
run env REELBOX_REDIS_CERT="$P/client.crt" REELBOX_REDIS_KEY="$P/client.key" "$BIN" status t_one
check "with REELBOX_REDIS_CERT and REELBOX_REDIS_KEY it works (rc $rc)" [ $rc = 0 ] && grep -q succeeded <<<"$out"
printf '{"result_ttl": 600, "redis_cert": "%s", "redis_key": "%s"}\n' "$P/client.crt" \
	"$P/client.key" >"$T/config-cert.json"
run env REELBOX_CONFIG="$T/config-cert.json" "$BIN" status t_one
check "... and so do the config file's redis_cert and redis_key (rc $rc)" [ $rc = 0 ] && grep -q succeeded <<<"$out"
run env REELBOX_REDIS_CERT="$P/client.crt" "$BIN" status t_one
check "a certificate without its key: exit 2, one line (rc $rc: $out)" [ $rc = 2 ] && oneline
"${RCLI[@]}" config set tls-auth-clients optional >/dev/null

# ---- Redis restarts under the worker: it reconnects through the bridge again.
threads_before=$(ls "/proc/$WORKER_PID/task" | wc -l)
"${RCLI[@]}" shutdown save >/dev/null 2>&1
wait "$REDIS_PID" 2>/dev/null
start_redis
check "redis-server restarted" wait_redis
for _ in $(seq 150); do
	[ "$(grep -c '"event":"redis_connected"' "$T/worker.log")" -ge 2 ] && break
	sleep 0.1
done
check "the worker reconnected over TLS after the restart" \
	[ "$(grep -c '"event":"redis_connected"' "$T/worker.log")" -ge 2 ]
run "$BIN" submit --id t_two --size 64x48 --fps 10 --frames 5 "$S/${MARK}_ok.sh"
check "submit after the restart (rc $rc)" [ $rc = 0 ]
check "the next job runs after the restart" wait_state t_two 30 succeeded
threads_after=$(ls "/proc/$WORKER_PID/task" | wc -l)
check "the old connections' pump threads ended ($threads_before threads before, $threads_after after)" \
	[ "$threads_after" -le "$threads_before" ]

# ---- Passwords.
run env REELBOX_REDIS_URL="rediss://tlsuser:wrong-$PW-x@localhost:$PORT" "$BIN" status t_one
check "a wrong password: exit 2, one line, WRONGPASS (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q WRONGPASS <<<"$out"
run "$BIN" status --redis "rediss://u:secret-$MARK@localhost:$PORT" t_one
check "--redis with a password on the command line: exit 2, one line pointing to REELBOX_REDIS_URL (rc $rc: $out)" \
	[ $rc = 2 ] && oneline && grep -q REELBOX_REDIS_URL <<<"$out"
check "... and the refusal does not repeat the password" [ "$(grep -c "secret-$MARK" <<<"$out")" = 0 ]
run "$BIN" worker --redis="rediss://u:secret-$MARK@localhost:$PORT"
check "worker --redis=URL with a password: exit 2 (rc $rc)" [ $rc = 2 ]
run env REELBOX_REDIS_URL="rediss://tlsuser:$PW@localhost:$PORT/x" "$BIN" status t_one
check "a malformed URL's error does not show the password (rc $rc: $out)" \
	[ $rc = 2 ] && [ "$(grep -c -- "$PW" <<<"$out")" = 0 ]

kill -TERM "$WORKER_PID" 2>/dev/null
wait "$WORKER_PID" 2>/dev/null
WORKER_PID=
# No worker now: submit --wait says which Redis it waits on, without the password.
run timeout 3 "$BIN" submit --wait --id t_three --size 64x48 --fps 10 --frames 5 "$S/${MARK}_ok.sh"
check "submit --wait with nobody to take the job names the Redis as rediss://***@localhost (rc $rc)" \
	grep -q "running against rediss://\*\*\*@localhost:$PORT?" <<<"$out"
check "the password is in no output of reelbox" [ "$(grep -c -- "$PW" "$ALL")" = 0 ]
check "the password is in no worker log" [ "$(cat "$T"/worker*.log | grep -c -- "$PW")" = 0 ]
check "every bridge directory is gone once its client closed" \
	[ "$(find "$T/xdg" -mindepth 1 | wc -l)" = 0 ]
finish
