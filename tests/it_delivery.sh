#!/usr/bin/env bash
# Integration test of delivery (issue 13): a job's "upload" (a presigned PUT URL) and
# "webhook" (its final state POSTed, signed) through a real worker and a real queue.
#
#  a. a real S3-compatible server (s3rver from npm, installed into the build dir when
#     missing) with a PUT URL presigned by boto3 (its signature covers the Content-Type):
#     submit --upload-url --wait succeeds, the result's "upload" is the URL without its
#     query, the object read back has the result's sha256, the local copy is removed.
#  b. a server that answers 500 once, then 200: the job succeeds after a second PUT whose
#     body is the whole video (sha256), with Content-Type video/webm for a webm job.
#  c. an upload URL where nothing listens: the job is handed back (a retryable failure),
#     never recorded as succeeded; once a server listens there, a later attempt delivers
#     the video.
#  d. the webhook (and, at the end, one still retrying when the worker is stopped is
#     delivered before it exits): a local receiver checks X-Reelbox-Signature (HMAC-SHA256 of the body
#     under REELBOX_WEBHOOK_SECRET) of the succeeded job's POST, a failed job's, and a
#     dead one's (its retries used up).
#  e. the secret is in no Redis key (SAVE, rdbcompression off), worker log, result or
#     status output, and not in the running worker's /proc/<pid>/environ.
#
# Environment: REELBOX_BIN, REELBOX_SOURCE_DIR as the other tests; REELBOX_IT_KEEP=1 keeps
# the temp dir. Skips (exit 0, saying why) only when npm cannot install s3rver.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
BUILD=$(dirname "$BIN")
NPMDIR=$BUILD/npm-cache

passed=0
failed=0
pass() { printf 'PASS %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL %s\n' "$*"; failed=$((failed + 1)); }
ok() { if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

PY=
for p in python3 /usr/bin/python3; do
	command -v "$p" >/dev/null && "$p" -c 'import boto3' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { fail "python3 with boto3 (Debian: python3-boto3)"; finish; }
for tool in redis-server redis-cli node npm timeout; do
	command -v "$tool" >/dev/null || { fail "$tool is required"; finish; }
done
[ -x "$BIN" ] || { fail "reelbox binary at $BIN"; finish; }
S3RVER=$NPMDIR/node_modules/s3rver/bin/s3rver.js
if [ ! -f "$S3RVER" ]; then
	mkdir -p "$NPMDIR"
	if ! timeout 180 npm install --prefix "$NPMDIR" --no-audit --no-fund s3rver >"$BUILD/npm-s3rver.log" 2>&1; then
		if ! timeout 20 npm ping >/dev/null 2>&1; then
			echo "SKIP it_delivery: npm cannot reach its registry to install s3rver (see $BUILD/npm-s3rver.log)"
			exit 0
		fi
		fail "npm install s3rver (registry reachable; see $BUILD/npm-s3rver.log)"
		finish
	fi
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itdeliv.XXXXXX")
chmod 755 "$T"
QOUT=$T/qout
O=$T/outs
mkdir -p "$QOUT" "$O" "$T/s3" "$T/redis" "$T/state"
export REELBOX_STATE_DIR=$T/state
unset REELBOX_CONFIG REELBOX_MODEL_URL REELBOX_MODEL_NAME REELBOX_MODEL_KEY
SECRET=whsec-reelbox-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
PIDS=()
cleanup() {
	exec 2>/dev/null
	for p in "${PIDS[@]}"; do kill -9 "$p"; done
	wait
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_delivery: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT: up to 10 s
	for _ in $(seq 100); do
		"$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---- the helper servers: a flaky PUT target and a webhook receiver -------------------
cat >"$T/srv.py" <<'PYEOF'
import hashlib, hmac, http.server, json, os, sys
mode, port, rec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fails = int(os.environ.get("FAILS", "0"))
secret = os.environ.get("HOOK_SECRET", "").encode()
count = [0]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))
    def _answer(self, code):
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
    def do_PUT(self):
        body = self._body(); count[0] += 1
        code = 500 if count[0] <= fails else 200
        with open(rec, "a") as f:
            f.write(json.dumps({"n": count[0], "code": code, "path": self.path,
                                "ctype": self.headers.get("Content-Type"),
                                "sha256": hashlib.sha256(body).hexdigest(),
                                "len": len(body)}) + "\n")
        self._answer(code)
    def do_POST(self):
        body = self._body(); count[0] += 1
        if count[0] <= fails:
            return self._answer(503)
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Reelbox-Signature", "")
        try: doc = json.loads(body)
        except Exception: doc = None
        with open(rec, "a") as f:
            f.write(json.dumps({"verified": hmac.compare_digest(want, got), "got": got,
                                "ctype": self.headers.get("Content-Type"), "doc": doc}) + "\n")
        self._answer(200 if hmac.compare_digest(want, got) else 401)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PYEOF
pyc() { "$PY" -c "import json,sys
A=sys.argv[1:]
def lines(p):
    try: return [json.loads(l) for l in open(p) if l.strip()]
    except FileNotFoundError: return []
$1" "${@:2}"; }

S3PORT=$(free_port)
node "$S3RVER" -d "$T/s3" -a 127.0.0.1 -p "$S3PORT" --configure-bucket reel --silent >"$O/s3rver.log" 2>&1 &
PIDS+=($!)
FLAKY=$(free_port)
FAILS=1 "$PY" "$T/srv.py" put "$FLAKY" "$T/flaky.jsonl" &
PIDS+=($!)
HOOK=$(free_port)
HOOK_SECRET=$SECRET "$PY" "$T/srv.py" hook "$HOOK" "$T/hook.jsonl" &
PIDS+=($!)
SLOWHOOK=$(free_port)
FAILS=2 HOOK_SECRET=$SECRET "$PY" "$T/srv.py" hook "$SLOWHOOK" "$T/slowhook.jsonl" &
PIDS+=($!)
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--rdbcompression no --protected-mode no --logfile "$T/redis/redis.log" >/dev/null 2>&1 &
PIDS+=($!)
for p in "$S3PORT" "$FLAKY" "$HOOK" "$SLOWHOOK" "$RPORT"; do
	wait_port "$p" || { fail "a helper server listens on $p ($(head -c 300 "$O/s3rver.log"))"; finish; }
done
export REELBOX_REDIS_URL=redis://127.0.0.1:$RPORT
S3="import boto3, botocore.config
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:$S3PORT', aws_access_key_id='S3RVER',
    aws_secret_access_key='S3RVER', region_name='us-east-1',
    config=botocore.config.Config(signature_version='s3v4', s3={'addressing_style': 'path'}))"

MPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REELBOX_WEBHOOK_SECRET=$SECRET "$BIN" worker --concurrency 2 --output-dir "$QOUT" --lease 3 \
	--grace 5 --metrics-port "$MPORT" 2>"$T/worker.log" &
WPID=$!
PIDS+=($WPID)
for _ in $(seq 100); do
	grep -q '"event":"redis_connected"' "$T/worker.log" 2>/dev/null && break
	sleep 0.05
done
SCRIPT=$SRC/tests/scripts_ok/checkerboard.py
JOB=(--size 64x64 --frames 12 --fps 12)

# ==== a. S3 ==========================================================================
echo "== a. a presigned PUT to s3rver"
URL=$("$PY" -c "$S3
print(s3.generate_presigned_url('put_object', Params={'Bucket': 'reel', 'Key': 'clips/a.mp4',
    'ContentType': 'video/mp4'}, ExpiresIn=600))")
timeout 60 "$BIN" submit "$SCRIPT" "${JOB[@]}" --id deliv-a --upload-url "$URL" \
	--webhook "http://127.0.0.1:$HOOK/hook" --wait --json >"$O/a.json" 2>"$O/a.err"
rc=$?
ok $rc "submit --upload-url (presigned by boto3) --wait succeeds (rc $rc: $(head -c 300 "$O/a.err"))"
pyc 'd=json.load(open(A[0])); r=d.get("result",d); print(r.get("upload","")); print(r.get("sha256","")); print(r.get("output",""))' "$O/a.json" >"$O/a.fields" 2>/dev/null
UPL=$(sed -n 1p "$O/a.fields"); SHA=$(sed -n 2p "$O/a.fields"); OUTP=$(sed -n 3p "$O/a.fields")
[ "$UPL" = "${URL%%\?*}" ] && [ "${URL#*\?}" != "$URL" ]
ok $? "the result's upload is the URL without its query ($UPL)"
GOT=$("$PY" -c "$S3
import hashlib
o = s3.get_object(Bucket='reel', Key='clips/a.mp4')
print(hashlib.sha256(o['Body'].read()).hexdigest(), o['ContentType'])" 2>"$O/a-get.err")
[ -n "$SHA" ] && [ "$GOT" = "$SHA video/mp4" ]
ok $? "the object read back from S3 has the result's sha256 and type ($GOT vs $SHA)"
[ -n "$OUTP" ] && [ ! -e "$OUTP" ] && [ ! -e "$QOUT/deliv-a.mp4" ]
ok $? "the worker's local copy is removed after the upload ($OUTP)"

# ==== b. 500 then 200 ================================================================
echo "== b. a server that fails once"
timeout 60 "$BIN" submit "$SCRIPT" "${JOB[@]}" --format webm --id deliv-b \
	--upload-url "http://127.0.0.1:$FLAKY/bucket/b.webm?X-Sig=abc" --wait --json >"$O/b.json" 2>"$O/b.err"
rc=$?
ok $rc "an upload answered 500 then 200 succeeds (rc $rc: $(head -c 300 "$O/b.err"))"
pyc 'd=json.load(open(A[0])); r=d.get("result",d); p=lines(A[1])
assert [x["code"] for x in p] == [500, 200], p
assert p[1]["sha256"] == r["sha256"] and p[1]["len"] == r["bytes"], (p, r)
assert p[1]["ctype"] == "video/webm" and p[1]["path"] == "/bucket/b.webm?X-Sig=abc", p' \
	"$O/b.json" "$T/flaky.jsonl" 2>"$O/b.check"
ok $? "two PUTs, the second holds the whole video, Content-Type video/webm ($(tail -c 300 "$O/b.check"))"

# ==== c. nothing listening ===========================================================
echo "== c. an upload URL where nothing listens"
DEAD=$(free_port)
timeout 20 "$BIN" submit "$SCRIPT" "${JOB[@]}" --id deliv-c \
	--upload-url "http://127.0.0.1:$DEAD/x.mp4" >"$O/c.out" 2>"$O/c.err"
for _ in $(seq 200); do
	grep -q '"event":"upload_failed".*deliv-c\|deliv-c.*"event":"upload_failed"' "$T/worker.log" && break
	sleep 0.1
done
grep -q 'upload_failed' "$T/worker.log" && grep 'deliv-c' "$T/worker.log" | grep -q 'job_requeued'
ok $? "the failed upload hands the job back ($(grep deliv-c "$T/worker.log" | grep -o '"event":"[a-z_]*"' | tr '\n' ' '))"
curl -s -m 5 "http://127.0.0.1:$MPORT/metrics" >"$O/metrics.txt"
mval() { awk -v k="$1" '$1 == k { print $2 }' "$O/metrics.txt"; }
up_ok=$(mval 'reelbox_uploads_total{outcome="ok"}')
up_failed=$(mval 'reelbox_uploads_total{outcome="failed"}')
up_count=$(mval reelbox_upload_seconds_count)
up_bytes=$(mval reelbox_upload_bytes_total)
[ "${up_ok:-0}" -ge 2 ] && [ "${up_failed:-0}" -ge 1 ] && [ "${up_count:-0}" -ge 3 ] && [ "${up_bytes:-0}" -gt 0 ]
ok $? "metrics count the uploads (ok $up_ok, failed $up_failed, timed $up_count, $up_bytes bytes)"
timeout 20 "$BIN" status --json deliv-c >"$O/c-status.json" 2>&1
grep -q '"id": *"deliv-c"' "$O/c-status.json" && ! grep -q '"succeeded"' "$O/c-status.json"
ok $? "the job is not recorded as succeeded ($(head -c 200 "$O/c-status.json"))"
FAILS=0 "$PY" "$T/srv.py" put "$DEAD" "$T/late.jsonl" &
PIDS+=($!)
for _ in $(seq 300); do
	timeout 20 "$BIN" status --json deliv-c >"$O/c-status.json" 2>&1
	grep -q '"state": *"\(succeeded\|dead\|failed\)"' "$O/c-status.json" && break
	sleep 0.1
done
pyc 'd=json.load(open(A[0])); p=lines(A[1])
assert d["state"] == "succeeded", d["state"]
assert p and p[-1]["sha256"] == d["result"]["sha256"], p' "$O/c-status.json" "$T/late.jsonl" 2>"$O/c.check"
ok $? "once a server listens, a later attempt delivers the video ($(tail -c 300 "$O/c.check"))"

# ==== d. the webhook =================================================================
echo "== d. the webhook"
printf 'import sys\nsys.exit("no frames today")\n' >"$T/fails.py"
timeout 60 "$BIN" submit "$T/fails.py" "${JOB[@]}" --id deliv-d \
	--webhook "http://127.0.0.1:$HOOK/hook" --wait --json >"$O/d.json" 2>"$O/d.err"
timeout 60 "$BIN" submit "$T/fails.py" "${JOB[@]}" --id deliv-e --retries 1 \
	--webhook "http://127.0.0.1:$HOOK/hook" --wait --json >"$O/e.json" 2>"$O/e.err"
for _ in $(seq 100); do
	[ "$(cat "$T/hook.jsonl" 2>/dev/null | wc -l)" -ge 3 ] && break
	sleep 0.1
done
pyc 'h=lines(A[0]); by={x["doc"]["id"]: x for x in h if x.get("doc")}
assert all(x["verified"] for x in h) and len(h) == 3, h
e = by["deliv-e"]["doc"]; assert e["state"] == "dead" and "no frames today" in e["error"], e
a = by["deliv-a"]["doc"]; assert a["state"] == "succeeded" and a["upload"] and a["sha256"], a
d = by["deliv-d"]["doc"]; assert d["state"] == "failed" and d["error"], d
assert by["deliv-a"]["ctype"] == "application/json"' "$T/hook.jsonl" 2>"$O/d.check"
ok $? "the receiver verified the HMAC of a succeeded, a failed and a dead job's POST ($(tail -c 300 "$O/d.check"))"

# ==== e. the secret ==================================================================
echo "== e. the secret stays in the worker"
redis-cli -p "$RPORT" SAVE >/dev/null
tr '\0' '\n' <"/proc/$WPID/environ" >"$O/environ" 2>/dev/null
grep -c "$SECRET" "$T/redis/dump.rdb" "$T/worker.log" "$O"/*.json "$O"/*.err "$O/environ" >"$O/grep" 2>/dev/null
! grep -qF "$SECRET" "$T/redis/dump.rdb" "$T/worker.log" "$O"/*.json "$O"/*.err "$O/environ" &&
	[ -s "$T/redis/dump.rdb" ] && grep -q deliv-a "$T/redis/dump.rdb"
ok $? "the secret is in no Redis key, log, result or the worker's environ"
grep -qF "X-Sig=abc" "$T/worker.log"
[ $? -ne 0 ]
ok $? "no presigned query string in the worker's log"

# A webhook whose receiver answers 503 twice is still on its way (backoff) when the job
# has ended and the worker is told to stop: the worker waits for it before it exits.
timeout 60 "$BIN" submit "$T/fails.py" "${JOB[@]}" --id deliv-f \
	--webhook "http://127.0.0.1:$SLOWHOOK/hook" --wait --json >"$O/f.json" 2>"$O/f.err"
kill -TERM "$WPID"
for _ in $(seq 200); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
wait "$WPID"
ok $? "the worker exits 0"
pyc 'h=lines(A[0]); assert len(h) == 1 and h[0]["verified"] and h[0]["doc"]["id"] == "deliv-f", h' \
	"$T/slowhook.jsonl" 2>"$O/f.check"
ok $? "a webhook still retrying at SIGTERM is delivered before the worker exits ($(tail -c 200 "$O/f.check"))"

# A receiver that takes the connection and never answers outlives the 10 s drain: the
# worker stops anyway and says what it dropped.
MUTE=$(free_port)
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); held = []
while True:
    c, _ = s.accept(); held.append(c)' "$MUTE" &
PIDS+=($!)
wait_port "$MUTE" || fail "the mute receiver listens"
REELBOX_WEBHOOK_SECRET=$SECRET "$BIN" worker --concurrency 1 --output-dir "$QOUT" --lease 3 \
	--grace 5 2>"$T/worker2.log" &
W2=$!
PIDS+=($W2)
timeout 60 "$BIN" submit "$T/fails.py" "${JOB[@]}" --id deliv-g \
	--webhook "http://127.0.0.1:$MUTE/hook" --wait --json >"$O/g.json" 2>"$O/g.err"
sleep 0.5
kill -TERM "$W2"
for _ in $(seq 300); do kill -0 "$W2" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$W2" 2>/dev/null && grep -q '"event":"delivery_abandoned".*"pending":1' "$T/worker2.log"
ok $? "a webhook whose receiver never answers is dropped after the drain, logged as delivery_abandoned ($(grep -o '"event":"delivery_abandoned"[^}]*' "$T/worker2.log" | head -c 200))"
finish
