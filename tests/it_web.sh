#!/usr/bin/env bash
# Integration test of `reelbox web`, the dashboard, against a real redis-server on a
# private port, a real `reelbox worker` with a real sandbox, and headless Chromium:
#
#  a. start-up: a non-loopback --listen without --token-env exits 2 with one line; a
#     short token is refused; the token leaves the environment block of the server.
#  b. the gate, with curl: no token, a wrong token or a wrong cookie is 401 (the API, the
#     event stream, the video, the metrics); a foreign Host header is 421; a POST without
#     X-Reelbox-Request, or from a foreign Origin, is 403; a request body is 413; a bad
#     job id is 404; every answer carries the CSP, nosniff and no-referrer; /metrics
#     names its gauges; /?token= sets an HttpOnly, SameSite=Strict cookie and redirects.
#  c. the page, in Chromium over the DevTools protocol: a job submitted during the test
#     appears; its progress bar and its log grow live, its events are listed; once it
#     succeeds its video plays in
#     the page (readyState >= 2) and seeks; a failed job is
#     retried with the page's Retry button and is queued or running again
#     (`reelbox status --json`); Redis stopped, the page says so, and once it is back
#     the message goes; a producer's job with HTML and script in its error, worker and
#     log shows them as text; no CSP violation and the token is not readable by the
#     page's script. A screenshot is kept: ${REELBOX_ARTIFACTS:-the build dir}/dashboard.png.
#  d. the video by curl: a Range is 206 with the right bytes, the whole file is 200 and
#     identical, a range past the end is 416, a symlink in the video's place is refused,
#     so is an output a producer pointed outside --output-dir (a path that climbs out, a
#     linked directory) and an id cut short by %00; a followed job whose log key a
#     producer made a string gets a problem event a second; a client that trickles its headers
#     (slowloris) is dropped at the 10 s header deadline;
#     Redis killed: the API is 503 with a JSON sentence and the event stream sends a
#     problem event; Redis back: the API answers again; SIGTERM: exit 0, also while a
#     request waits on a Redis that stopped answering (SIGSTOP).
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default .),
# REELBOX_ARTIFACTS, REELBOX_IT_KEEP=1 keeps the temp dir. Needs redis-server, redis-cli,
# curl and python3; without chromium part c is skipped with the reason
# (scripts/install-deps.sh installs it). Prints one PASS/FAIL line per check and ends
# with "N passed, M failed"; exits 1 when a check failed. About 30 s, 90 s at most.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-.}
BIN=${REELBOX_BIN:-build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
ART=${REELBOX_ARTIFACTS:-$(dirname "$BIN")}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

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

for tool in redis-server redis-cli python3 curl timeout; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
if [ ! -x "$BIN" ]; then
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itw.XXXXXX")
MARK=itw$$
OUT=$T/out
mkdir -p "$T/redis" "$T/state" "$T/scripts" "$OUT" "$ART"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
WPORT=$(free_port)
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
export REELBOX_STATE_DIR=$T/state
export REELBOX_CONFIG=$T/config.json
printf '{"result_ttl": 600}\n' >"$REELBOX_CONFIG"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")
REDIS_PID=
WORKER_PID=
WEB_PID=

cleanup() {
	local p
	exec 2>/dev/null
	[ -n "$WEB_PID" ] && kill -9 "$WEB_PID" 2>/dev/null
	[ -n "$WORKER_PID" ] && kill -9 "$WORKER_PID" 2>/dev/null
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null
	for p in $(pgrep -f "/job/${MARK}_" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_web: keeping $T"; else rm -rf "$T"; fi
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

status_field() { # status_field ID FIELD
	"$BIN" status --json "$1" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}
wait_state() { # wait_state ID SECONDS STATE...: one of the states within SECONDS
	local i id=$1 secs=$2 s
	shift 2
	for i in $(seq $((secs * 10))); do
		s=$(status_field "$id" state)
		for want in "$@"; do [ "$s" = "$want" ] && return 0; done
		sleep 0.1
	done
	return 1
}

S=$T/scripts
# Slow enough to watch: 40 frames, one every 0.1 s, a log line each.
cat >"$S/${MARK}_slow.py" <<'EOF'
import os, sys, time
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    shade = bytes([(i * 6) % 256, 80, 200 - i * 4 % 200])
    sys.stdout.buffer.write(shade * (w * h))
    sys.stdout.flush()
    print(f"frame {i + 1} of {n}", file=sys.stderr, flush=True)
    time.sleep(0.1)
EOF
cat >"$S/${MARK}_fail.sh" <<'EOF'
#!/bin/sh
echo "boom: this script always fails" >&2
sleep 2
exit 3
EOF

"$BIN" worker --concurrency 2 --output-dir "$OUT" --config "$REELBOX_CONFIG" 2>"$T/worker.log" &
WORKER_PID=$!

# ==== a. start-up =======================================================================
echo "== a. start-up"
out=$(timeout 10 "$BIN" web --listen 0.0.0.0:0 2>&1)
rc=$?
check "a non-loopback --listen without --token-env exits 2 with one line (rc $rc: $out)" \
	[ $rc = 2 -a "$(wc -l <<<"$out")" = 1 ]
out=$(SHORT=abc timeout 10 "$BIN" web --listen 127.0.0.1:0 --token-env SHORT 2>&1)
check "a short token is refused (rc $?)" grep -q "16 to 256 characters" <<<"$out"
out=$(timeout 10 "$BIN" web --listen 127.0.0.1:0 --token-env REELBOX_IT_UNSET 2>&1)
check "an unset token variable is refused (rc $?)" grep -q "unset or empty" <<<"$out"

TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
REELBOX_WEB_TOKEN=$TOKEN "$BIN" web --listen "127.0.0.1:$WPORT" --token-env REELBOX_WEB_TOKEN \
	--output-dir "$OUT" >"$T/web.out" 2>"$T/web.err" &
WEB_PID=$!
for _ in $(seq 100); do
	grep -q "^reelbox web: http://127.0.0.1:$WPORT/" "$T/web.out" && break
	sleep 0.1
done
check "reelbox web says where it listens" grep -q "http://127.0.0.1:$WPORT/ (token required)" "$T/web.out"
check "the token is not in the server's environment block or command line" \
	bash -c "! grep -aq '$TOKEN' /proc/$WEB_PID/environ /proc/$WEB_PID/cmdline"

# ==== b. the gate =======================================================================
echo "== b. the gate"
URL=http://127.0.0.1:$WPORT
# Slowloris, checked at the end of d: a header line every 2 s, never the end of them.
python3 - "$WPORT" >"$T/slowloris" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
t0 = time.time()
try:
    while time.time() - t0 < 40:
        time.sleep(2)
        s.sendall(b"X-Slow: 1\r\n")
    print("open after 40 s")
except OSError:
    print("dropped after %d s" % (time.time() - t0))
PY
SLOW_PID=$!
AUTH=(-H "Authorization: Bearer $TOKEN")
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
for p in / /api/overview /api/jobs /api/events /video/x /poster/x /metrics /healthz; do
	check "GET $p without the token: 401" [ "$(code "$URL$p")" = 401 ]
done
check "a wrong bearer token: 401" [ "$(code -H "Authorization: Bearer ${TOKEN}x" "$URL/api/jobs")" = 401 ]
check "a wrong cookie: 401" [ "$(code -b "reelbox_token=${TOKEN%?}" "$URL/api/jobs")" = 401 ]
# the last digit changed to another one (appending a fixed "0" was the token itself when it ended in 0)
WRONG_LAST=$([ "${TOKEN: -1}" = 0 ] && echo 1 || echo 0)
check "a wrong /?token=: 401" [ "$(code "$URL/?token=${TOKEN%?}$WRONG_LAST")" = 401 ]
check "POST without the token: 401" \
	[ "$(code -X POST -H 'X-Reelbox-Request: 1' -H "Origin: $URL" "$URL/api/jobs/x/cancel")" = 401 ]
check "with the token: 200" [ "$(code "${AUTH[@]}" "$URL/api/jobs")" = 200 ]
check "a foreign Host header (DNS rebinding): 421" \
	[ "$(code "${AUTH[@]}" -H "Host: evil.example:$WPORT" "$URL/api/jobs")" = 421 ]
check "a Host with another port: 421" [ "$(code "${AUTH[@]}" -H "Host: 127.0.0.1:1" "$URL/api/jobs")" = 421 ]
check "localhost:PORT is accepted" [ "$(code "${AUTH[@]}" -H "Host: localhost:$WPORT" "$URL/api/jobs")" = 200 ]
"$BIN" submit --id j_gate --size 64x48 --fps 10 --frames 5 "$S/${MARK}_fail.sh" >/dev/null
check "POST without X-Reelbox-Request: 403" \
	[ "$(code "${AUTH[@]}" -X POST -H "Origin: $URL" "$URL/api/jobs/j_gate/cancel")" = 403 ]
check "POST from a foreign Origin: 403" \
	[ "$(code "${AUTH[@]}" -X POST -H 'X-Reelbox-Request: 1' -H 'Origin: http://evil.example' "$URL/api/jobs/j_gate/cancel")" = 403 ]
check "POST with neither Origin nor Sec-Fetch-Site: 403" \
	[ "$(code "${AUTH[@]}" -X POST -H 'X-Reelbox-Request: 1' "$URL/api/jobs/j_gate/cancel")" = 403 ]
check "a cross-site Sec-Fetch-Site: 403" \
	[ "$(code "${AUTH[@]}" -X POST -H 'X-Reelbox-Request: 1' -H 'Sec-Fetch-Site: cross-site' "$URL/api/jobs/j_gate/cancel")" = 403 ]
check "GET on an action: 404, nothing done" [ "$(code "${AUTH[@]}" "$URL/api/jobs/j_gate/cancel")" = 404 ]
check "a POST with a body: 413" \
	[ "$(code "${AUTH[@]}" -X POST -H 'X-Reelbox-Request: 1' -H "Origin: $URL" --data-binary @/etc/hostname "$URL/api/jobs/j_gate/cancel")" = 413 ]
check "the job was not cancelled by any of those" wait_state j_gate 10 queued running
body=$(curl -s --max-time 5 "${AUTH[@]}" -X POST -H 'X-Reelbox-Request: 1' -H "Origin: $URL" "$URL/api/jobs/j_gate/cancel")
check "a same-origin POST with the header cancels ($body)" [ "$(status_field j_gate state)" = cancelled ]
check "a bad job id in a path: 404" [ "$(code "${AUTH[@]}" "$URL/api/jobs/a.b")" = 404 ]
check "a path that climbs: 404" [ "$(code "${AUTH[@]}" --path-as-is "$URL/video/../../etc/passwd")" = 404 ]
check "an unknown job: 404" [ "$(code "${AUTH[@]}" "$URL/api/jobs/nosuchjob")" = 404 ]
check "a bad list state: 400" [ "$(code "${AUTH[@]}" "$URL/api/jobs?state=nope")" = 400 ]
check "a bad list limit: 400" [ "$(code "${AUTH[@]}" "$URL/api/jobs?limit=99999")" = 400 ]
check "a bad log cursor: 400" [ "$(code "${AUTH[@]}" "$URL/api/jobs/j_gate/log?after=x')")" = 400 ]
check "PUT: 405" [ "$(code "${AUTH[@]}" -X PUT "$URL/api/jobs")" = 405 ]
hdr=$(curl -s -D - -o /dev/null --max-time 5 "${AUTH[@]}" "$URL/")
check "the page carries a CSP without unsafe-inline" \
	bash -c "grep -qi \"^Content-Security-Policy: default-src 'none'; script-src 'sha256-\" <<<\"\$1\" && ! grep -qi unsafe <<<\"\$1\"" _ "$hdr"
check "nosniff, no-referrer and no-store" \
	bash -c 'grep -qi "^X-Content-Type-Options: nosniff" <<<"$1" && grep -qi "^Referrer-Policy: no-referrer" <<<"$1" && grep -qi "^Cache-Control: no-store" <<<"$1"' _ "$hdr"
hdr=$(curl -s -D - -o /dev/null --max-time 5 "$URL/?token=$TOKEN")
check "/?token= answers 303 to / with an HttpOnly, SameSite=Strict cookie" \
	bash -c 'grep -q "^HTTP/1.1 303" <<<"$1" && grep -qi "^Location: /\s*$" <<<"$1" && grep -qi "^Set-Cookie: reelbox_token=.*HttpOnly; SameSite=Strict" <<<"$1"' _ "$hdr"
check "the cookie opens the API" [ "$(code -b "reelbox_token=$TOKEN" "$URL/api/overview")" = 200 ]
m=$(curl -s --max-time 5 "${AUTH[@]}" "$URL/metrics")
check "/metrics: jobs by state, oldest queued age, delayed, workers alive, finished" \
	bash -c 'for n in "reelbox_queue_jobs{state=\"cancelled\"} 1" reelbox_queue_oldest_queued_age_seconds reelbox_queue_delayed_jobs "reelbox_workers_alive 1" "reelbox_queue_finished_last_minute{state=\"succeeded\"}" "# TYPE reelbox_queue_jobs gauge"; do grep -qF "$n" <<<"$1" || { echo "missing $n" >&2; exit 1; }; done' _ "$m"
check "/healthz: ok" [ "$(curl -s --max-time 5 "${AUTH[@]}" "$URL/healthz")" = ok ]
ev=$(curl -s --max-time 3 "${AUTH[@]}" "$URL/api/events")
check "the event stream sends an overview with stats and jobs" \
	bash -c 'grep -q "^event: overview" <<<"$1" && grep -q "^data: {\"stats\":{.*\"jobs\":\[" <<<"$1"' _ "$ev"

# Redis stopped and started again on its port, its data kept.
start_redis() {
	redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
		--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
	REDIS_PID=$!
	for _ in $(seq 100); do
		[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
}
stop_redis() { # saved first: the restarted server loads it, the jobs stay
	"${RCLI[@]}" save >/dev/null 2>&1
	kill -9 "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=
}
# ==== c. the page in Chromium ===========================================================
echo "== c. the page in Chromium"
if [ -z "$CHROMIUM" ]; then
	echo "SKIP the browser checks: no chromium binary (scripts/install-deps.sh installs Debian's chromium)"
	"$BIN" submit --id j_slow --size 160x90 --fps 10 --frames 40 "$S/${MARK}_slow.py" >/dev/null
	check "a job to fetch by curl succeeded" wait_state j_slow 30 succeeded
else

"$BIN" submit --id j_fail --size 64x48 --fps 10 --frames 5 "$S/${MARK}_fail.sh" >/dev/null
wait_state j_fail 20 failed dead
check "a job that always fails ended failed or dead ($(status_field j_fail state))" wait_state j_fail 1 failed dead

# The browser part speaks to this shell through files: go/ID asks the shell to submit
# a job once the page is open, retry/ID tells the shell the page clicked Retry.
mkdir -p "$T/ipc"
# A producer's job with HTML and script in every string the page shows.
now_ms=$(($(date +%s) * 1000))
"${RCLI[@]}" hset reelbox:job:j_xss state failed created "$now_ms" attempts 1 max_attempts 1 \
	error '<img id=xss1 src=x onerror="window.__xss=1">' worker '<script id=xss2>window.__xss=2</script>' >/dev/null
"${RCLI[@]}" zadd reelbox:jobs:recent "$now_ms" j_xss >/dev/null
"${RCLI[@]}" xadd reelbox:job:j_xss:log '*' a 1 t $'<img id=xss3 src=x onerror="window.__xss=3">\xe2\x80\xa8after U+2028\n' >/dev/null
PYTHONPATH="$SRC/tests" timeout 75 python3 - "$CHROMIUM" "$URL" "$TOKEN" "$T/profile" "$ART" "$T/ipc" \
	<<'PY' >"$T/browser" 2>&1 &
import base64, json, os, sys, time

from cdp import attach, launch

chromium, url, token, profile, art, ipc = sys.argv[1:7]
fails = 0


def check(cond, what):
    global fails
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    fails += not cond


def until(c, expr, secs, every=0.2):
    """The value of expr once it is truthy, within secs; else the last value."""
    end, v = time.time() + secs, None
    while time.time() < end:
        v = c.js(expr)
        if v:
            return v
        time.sleep(every)
    return v


proc = launch(chromium, profile, 1600, 1000)
try:
    c = attach(profile)
    for domain in ("Page", "Runtime", "Log"):
        c.call(f"{domain}.enable")
    c.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1,
           mobile=False)
    c.call("Page.navigate", url=f"{url}/?token={token}")
    c.wait_event("Page.loadEventFired", 20)
    check(c.js("location.href") == url + "/", "the token left the address bar (303 to /)")
    check(token not in (c.js("document.cookie") or ""), "the page's script cannot read the token")
    check(until(c, "document.getElementById('n-cancelled').textContent === '1'", 10),
          "the header shows the queue's counts (1 cancelled)")
    wk = until(c, "(() => { const r = document.querySelector('#workers-list tr');"
                  "return r && r.textContent.includes('alive') && r.textContent; })()", 10)
    check(bool(wk) and "of 2" in wk, f"the workers table shows the worker alive with 2 slots ({wk})")

    # A job submitted now appears, and its progress bar moves.
    open(os.path.join(ipc, "go"), "w").close()
    row = "document.querySelector('tr[data-id=\"j_slow\"]')"
    check(until(c, f"!!{row}", 15), "the job submitted during the test appears in the table")
    c.js(f"{row}.click()")
    seen, live = [], []
    end = time.time() + 20
    while time.time() < end:
        v = c.js(f"(() => {{ const r = {row}; const f = r && r.querySelector('.fill');"
                 "const l = document.getElementById('d-log');"
                 "return r ? [r.dataset.state, f ? +f.dataset.pct : -1,"
                 "            l ? (l.textContent.match(/frame \\d+ of/g) || []).length : 0] : null; })()")
        if v:
            seen.append(v)
            if v[0] == "succeeded":
                break
        time.sleep(0.25)
    pcts = sorted({p for s, p, _ in seen if s == "running" and p > 0})
    check(len(pcts) >= 2, f"its progress bar moved while it ran ({pcts[:6]}...)")
    check(bool(seen) and seen[-1][0] == "succeeded", f"it succeeded on the page ({seen[-1:]})")
    lines = sorted({n for s, _, n in seen if s == "running" and n > 0})
    check(len(lines) >= 2, f"its log grew on the page while it ran ({lines[:6]}... lines)")

    # Its detail: the whole log, then the video plays.
    log = "((document.getElementById('d-log') || {}).textContent || '')"
    check(until(c, f"{log}.includes('frame 1 of 40') && {log}.includes('frame 40 of 40')", 10),
          "the detail panel shows the job's whole log, kept when it succeeded")
    evs = until(c, "(() => { const t = [...document.querySelectorAll('#d-events li')]"
                   ".map(l => l.textContent).join(' | ');"
                   "return / queued/.test(t) && / running/.test(t) && / done/.test(t) && t; })()", 10)
    check(bool(evs), f"the detail panel lists the job's events: queued, running, done ({evs})")
    check(until(c, "!!document.getElementById('player')", 10), "a succeeded job gets a player")
    state = c.js("""new Promise(done => { const v = document.getElementById('player');
        if (v.readyState >= 2) return done(v.readyState);
        v.addEventListener('loadeddata', () => done(v.readyState));
        v.addEventListener('error', () => done(-1));
        setTimeout(() => done(v.readyState), 15000); })""", 20)
    check(state >= 2, f"its video plays in the page (readyState {state})")
    dur = c.js("document.getElementById('player').duration")
    check(abs((dur or 0) - 4.0) < 0.2, f"the video lasts its 40 frames at 10 fps ({dur} s)")
    seek = c.js("""new Promise(done => { const v = document.getElementById('player');
        v.addEventListener('seeked', () => done(v.currentTime)); v.currentTime = 3.0;
        setTimeout(() => done(-1), 10000); })""", 15)
    check(seek is not None and seek >= 2.9, f"the player seeks (to {seek} s)")
    until(c, "document.getElementById('player').readyState >= 3", 5)
    time.sleep(2)  # the player's loading spinner fades out
    shot = c.call("Page.captureScreenshot", format="png")
    path = os.path.join(art, "dashboard.png")
    open(path, "wb").write(base64.b64decode(shot["data"]))
    print(f"screenshot: {path}", flush=True)

    # The failed job, retried from the page.
    c.js("document.querySelector('tr[data-id=\"j_fail\"]').click()")
    check(until(c, "(() => { const b = document.getElementById('b-retry');"
                   "return b && !b.disabled; })()", 10), "the failed job's Retry button is enabled")
    c.js("document.getElementById('b-retry').click()")
    open(os.path.join(ipc, "retry"), "w").close()
    msg = until(c, "(() => { const m = document.getElementById('msg');"
                   "return m && m.textContent.includes('done') && m.textContent; })()", 10)
    check(bool(msg), f"the page says the retry was done ({msg})")

    # Redis away: the page says so, and comes back by itself.
    def ask(what, secs=20):
        open(os.path.join(ipc, what), "w").close()
        end = time.time() + secs
        while time.time() < end and not os.path.exists(os.path.join(ipc, what + ".done")):
            time.sleep(0.1)
    ask("redis-stop")
    banner = until(c, "(() => { const p = document.getElementById('problem');"
                      "return p.className === 'on' && p.textContent; })()", 10)
    check(bool(banner) and "Redis" in banner, f"Redis away: the page says so ({banner})")
    ask("redis-start")
    check(until(c, "document.getElementById('problem').className === ''", 10),
          "Redis back: the page clears the message and updates again")

    # HTML and script from Redis stay text: no element is made from them, nothing runs.
    c.js("document.querySelector('tr[data-id=\"j_xss\"]').click()")
    shown = until(c, "(() => { const l = document.getElementById('d-log');"
                     "return l && l.textContent.includes('after U+2028') && l.textContent; })()", 10)
    made = c.js("!!(document.getElementById('xss1') || document.getElementById('xss2') ||"
                " document.getElementById('xss3')) || window.__xss !== undefined")
    err = c.js("(document.getElementById('d-error') || {}).textContent || ''")
    check(bool(shown) and "<img id=xss3" in shown and "<img id=xss1" in err and made is False,
          f"a job's error, worker and log with HTML and script are shown as text ({made})")

    errs = [e["params"] for e in c.events if e.get("method") == "Runtime.exceptionThrown" or
            (e.get("method") == "Log.entryAdded" and
             "Content Security Policy" in e["params"]["entry"].get("text", ""))]
    check(not errs, f"no script error and no CSP violation ({json.dumps(errs)[:400]})")
finally:
    proc.kill()
    proc.wait()
sys.exit(1 if fails else 0)
PY
BPID=$!
for _ in $(seq 300); do [ -e "$T/ipc/go" ] || ! kill -0 $BPID 2>/dev/null && break; sleep 0.1; done
"$BIN" submit --id j_slow --size 160x90 --fps 10 --frames 40 "$S/${MARK}_slow.py" >/dev/null
for _ in $(seq 600); do [ -e "$T/ipc/retry" ] || ! kill -0 $BPID 2>/dev/null && break; sleep 0.1; done
seen_state=
for _ in $(seq 40); do
	s=$(status_field j_fail state)
	case $s in queued | running) seen_state=$s && break ;; esac
	sleep 0.1
done
# The browser asks for Redis to go away and come back (ipc/redis-stop, ipc/redis-start).
for step in redis-stop redis-start; do
	for _ in $(seq 300); do [ -e "$T/ipc/$step" ] || ! kill -0 $BPID 2>/dev/null && break; sleep 0.1; done
	[ -e "$T/ipc/$step" ] || break
	if [ $step = redis-stop ]; then stop_redis; else start_redis; fi
	touch "$T/ipc/$step.done"
done
wait $BPID
brc=$?
sed 's/^/  browser: /' "$T/browser"
check "the page passes every browser check (rc $brc)" [ $brc = 0 ]
check "after Retry on the page, reelbox status says the job is queued or running ($seen_state)" \
	[ -n "$seen_state" ]
ev=$(timeout 5 "${RCLI[@]}" xrevrange reelbox:job:j_fail:events + - count 10 | grep -c '"by":"request"')
check "and a retry event by request is recorded" [ "$ev" -ge 1 ]
check "the screenshot is kept: $ART/dashboard.png" [ -s "$ART/dashboard.png" ]
echo "screenshot: $ART/dashboard.png"
fi

# ==== d. the video by curl, and Redis away ==============================================
echo "== d. ranges, and Redis away"
out=$(status_field j_slow output)
size=$(stat -c %s "$out" 2>/dev/null || echo 0)
hdr=$(curl -s -D - -o "$T/part" --max-time 5 "${AUTH[@]}" -H 'Range: bytes=100-199' "$URL/video/j_slow")
check "a Range request: 206, Content-Range and the right 100 bytes" \
	bash -c 'grep -q "^HTTP/1.1 206" <<<"$1" && grep -qi "^Content-Range: bytes 100-199/$2" <<<"$1" && cmp -s <(tail -c +101 "$3" | head -c 100) "$4"' _ "$hdr" "$size" "$out" "$T/part"
check "the whole video: 200, video/mp4, identical to the file" \
	bash -c 'curl -s -D "$4/h" -o "$4/whole" --max-time 5 -H "Authorization: Bearer $1" "$2/video/j_slow" && grep -qi "^Content-Type: video/mp4" "$4/h" && cmp -s "$4/whole" "$3"' _ "$TOKEN" "$URL" "$out" "$T"
hdr=$(curl -s -D - -o "$T/tail" --max-time 5 "${AUTH[@]}" -H 'Range: bytes=-64' "$URL/video/j_slow")
check "a suffix range (the last 64 bytes): 206 with those bytes" \
	bash -c 'grep -qi "^Content-Range: bytes $(($2 - 64))-$(($2 - 1))/$2" <<<"$1" && cmp -s <(tail -c 64 "$3") "$4"' _ "$hdr" "$size" "$out" "$T/tail"
hdr=$(curl -s -D - -o /dev/null --max-time 5 "${AUTH[@]}" -H 'Range: bytes=0-1,5-9' "$URL/video/j_slow")
check "several ranges: the whole file, 200 (not served as multipart)" grep -q "^HTTP/1.1 200" <<<"$hdr"
check "a range past the end: 416" \
	[ "$(code "${AUTH[@]}" -H "Range: bytes=$((size + 10))-" "$URL/video/j_slow")" = 416 ]
check "a failed job has no video: 404" [ "$(code "${AUTH[@]}" "$URL/video/j_gate")" = 404 ]
mv "$out" "$out.real" && ln -s /etc/passwd "$out"
check "a symlink put in the video's place is not followed: 404" [ "$(code "${AUTH[@]}" "$URL/video/j_slow")" = 404 ]
rm -f "$out" && mv "$out.real" "$out"
# A producer (anyone who can write to Redis) points a succeeded job at another file.
mkdir -p "$T/private" && echo "not for the dashboard" >"$T/private/secret.mp4" && cp /etc/hostname "$T/private/secret.jpg"
"${RCLI[@]}" hset reelbox:job:j_evil state succeeded output "$T/private/secret.mp4" \
	result "{\"poster\":\"$T/private/secret.jpg\"}" >/dev/null
body=$(curl -s --max-time 5 "${AUTH[@]}" "$URL/video/j_evil")
check "a producer's output outside the output dir is not served: 404 ($body)" \
	bash -c '[ "$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 -H "Authorization: Bearer $1" "$2/video/j_evil")" = 404 ] && grep -q "not in this dashboard.s output dir" <<<"$3"' _ "$TOKEN" "$URL" "$body"
check "nor its poster outside it: 404" [ "$(code "${AUTH[@]}" "$URL/poster/j_evil")" = 404 ]
"${RCLI[@]}" hset reelbox:job:j_evil output "$OUT/../private/secret.mp4" >/dev/null
check "nor a path that climbs out of it: 404" [ "$(code "${AUTH[@]}" "$URL/video/j_evil")" = 404 ]
ln -s "$T/private" "$OUT/linked"
"${RCLI[@]}" hset reelbox:job:j_evil output "$OUT/linked/secret.mp4" >/dev/null
check "nor a file behind a linked directory inside it: 404" [ "$(code "${AUTH[@]}" "$URL/video/j_evil")" = 404 ]
rm -f "$OUT/linked"
check "an escaped NUL does not cut an id short: 404" [ "$(code "${AUTH[@]}" "$URL/video/j_slow%00x")" = 404 ]
# A producer makes a followed job's log a string: every read of it fails at once.
"${RCLI[@]}" hset reelbox:job:j_wrongtype state running >/dev/null
"${RCLI[@]}" set reelbox:job:j_wrongtype:log notastream >/dev/null
n=$(curl -s -N --max-time 3 "${AUTH[@]}" "$URL/api/events?job=j_wrongtype" | grep -c '^event: problem')
check "a followed job whose log key is of another type: a problem event a second, not a loop ($n in 3 s)" \
	[ "$n" -ge 1 -a "$n" -le 5 ]

for _ in 1 2 3 4 5 6; do curl -s -o /dev/null --max-time 5 "${AUTH[@]}" "$URL/api/jobs/j_slow" & done
wait $(jobs -p | grep -vx "$WORKER_PID\|$WEB_PID\|$REDIS_PID") 2>/dev/null
stop_redis
start_redis
codes=$(for _ in 1 2 3 4 5; do code "${AUTH[@]}" "$URL/api/jobs/j_slow"; echo; done | tr '\n' ' ')
check "Redis restarted: at most one request notices, the pool is renewed at once ($codes)" \
	bash -c '[ "$(grep -o 200 <<<"$1" | wc -l)" -ge 4 ]' _ "$codes"
wait "$SLOW_PID"
check "slowloris (a header line every 2 s): dropped at the 10 s header deadline ($(cat "$T/slowloris"))" \
	bash -c 'n=$(sed -n "s/^dropped after \([0-9]*\) s$/\1/p" "$1"); [ -n "$n" ] && [ "$n" -ge 9 ] && [ "$n" -le 16 ]' _ "$T/slowloris"
stop_redis
body=$(curl -s -w ' %{http_code}' --max-time 10 "${AUTH[@]}" "$URL/api/overview")
check "Redis away: the API answers 503 with a JSON sentence ($body)" \
	bash -c 'grep -q "^{\"error\":\".*Redis.*\"} 503$" <<<"$1"' _ "$body"
ev=$(curl -s --max-time 3 "${AUTH[@]}" "$URL/api/events")
check "Redis away: the event stream says so (event: problem) and stays open" grep -q "^event: problem" <<<"$ev"
start_redis
check "Redis back: the API answers again" [ "$(code "${AUTH[@]}" "$URL/api/overview")" = 200 ]
kill -TERM "$WEB_PID"
for _ in $(seq 50); do kill -0 "$WEB_PID" 2>/dev/null || break; sleep 0.1; done
wait "$WEB_PID"
rc=$?
WEB_PID=
check "SIGTERM: reelbox web exits 0 within 5 s (rc $rc)" [ "$rc" = 0 ]

# A Redis that stops answering (SIGSTOP) must not hold the stop for good.
"$BIN" web --listen "127.0.0.1:$WPORT" >"$T/web2.out" 2>"$T/web2.err" &
WEB_PID=$!
for _ in $(seq 100); do grep -q "^reelbox web:" "$T/web2.out" && break; sleep 0.1; done
kill -STOP "$REDIS_PID"
curl -s -N --max-time 20 "$URL/api/events" >/dev/null 2>&1 &
CURL_PID=$!
sleep 1
t0=$(date +%s)
kill -TERM "$WEB_PID"
for _ in $(seq 150); do kill -0 "$WEB_PID" 2>/dev/null || break; sleep 0.1; done
wait "$WEB_PID"
rc=$?
took=$(($(date +%s) - t0))
WEB_PID=
kill -CONT "$REDIS_PID"
kill "$CURL_PID" 2>/dev/null
check "Redis frozen: SIGTERM still stops reelbox web, exit 0 in ${took}s (at most 8), saying why" \
	bash -c '[ "$1" = 0 ] && [ "$2" -le 8 ] && grep -q "still waits on Redis" "$3"' _ "$rc" "$took" "$T/web2.err"
finish
