#!/usr/bin/env bash
# Integration test of prompt jobs (issue 11): the worker asks a model for a script, renders
# it in the real sandbox, and sends failures back. The model is tests/model_server.py on a
# private loopback port (a table of recorded answers; it records every request), the queue
# a private redis-server (AOF on, RDB uncompressed so both can be grepped). The key is a
# fresh "sk-reelbox-test-<hex>" so that any copy of it can be found.
#
#  a. run --prompt with a good answer renders (ffprobe: frames, size); --json has prompt,
#     script and one attempt (runtime, model_ms, render_ms, tokens); OpenAI and Anthropic
#     dialects (path, key header, system prompt, the job's size in the request); a block
#     tagged sh runs with sh; the key from key_file and from key_env; a key file others can
#     read, no model configured, a 17000-byte prompt, a prompt and a script together: each
#     a usage error (2) in one line; --prompt-file - reads stdin. The prompt (quotes, a
#     backslash, a newline, non-ASCII) comes back unchanged.
#  b. repair: [buggy, good] succeeds on attempt 2; the 2nd request carries the 1st script
#     as the assistant turn and its NameError in the user turn; without --json run prints
#     one line per attempt; a Python syntax error is caught by the render's own start (Python
#     compiles the whole file first) and sent back; a shell script's by `sh -n` in the sandbox
#     before any render (check_ms > 0, render_ms 0).
#  c. a script that prints text to stdout before its frames: if the attempt fails, its
#     error is one sentence and the repair request carries it; if it succeeds, a warning.
#  d. always-buggy answers with model.max_attempts 2 (config): exit 1 after exactly 2
#     attempts, both recorded, 2 requests, no file at -o.
#  e. prose with no code block, and a block tagged ruby: a failed attempt whose error
#     goes back to the model.
#  f. 429 (Retry-After: 1) then good: succeeded, the wait honoured; 500 for ever: exit 1,
#     a sentence naming the model URL; nothing listening at the URL: the same; an answer
#     without usage: tokens -1; 401 (a wrong key): "check REELBOX_MODEL_KEY" and no key in
#     any output; a model echoing the key (answer and error): redacted.
#  g. model.timeout 2 against a 6 s answer: fails in bounded time with a timeout sentence
#     and the client hangs up (run's /proc/<pid>/environ holds no key meanwhile); a 64 MiB
#     answer: refused with a size sentence, not read to its end.
#  h. the key-hunting answer (model_server.py HUNTER: environment, /proc, inherited fds,
#     the key file and the server's record by path, the model server's and Redis's
#     loopback ports, Unix sockets) finds nothing key-like, and the job's log says what
#     was denied: through `run` and through the worker.
#  i. the queue, real workers (lease 3 s): a worker without a model dead-letters a prompt
#     job with a sentence; submit --prompt --wait succeeds; status --json shows prompt,
#     script and result.attempts; status --script prints the final script; status's text
#     has a try line per attempt; the repair loop, the attempt limit (exit 1 after 3) and
#     the hunter in the worker; a document with both or neither of "prompt" and "script"
#     is refused with a sentence (CLI and raw XADD); cancel while the model thinks (20 s)
#     ends the job cancelled in seconds and the worker hangs up on the model; a worker
#     SIGKILLed during a model call loses no job (another worker completes it); an 8 s
#     model call with two workers keeps its lease (one claim, one request); SIGTERM during
#     a model call: exit 0 within the grace, the job completes on the other worker; the
#     metrics have the model counters; workers exit 0 and log JSON lines only.
#  j. KEY LEAK: the key is nowhere in the Redis RDB (SAVE, rdbcompression off) and AOF,
#     the worker logs, any result, status, metrics output or stderr of this test, any file
#     in the output dirs or the state dir, the model server's recorded bodies (only the
#     Authorization/x-api-key headers hold it); nor in /proc/<pid>/environ of a running
#     worker (it wipes it after reading); the RDB and AOF greps are shown able to hit.
#
# Environment: REELBOX_BIN (default build/reelbox), REELBOX_SOURCE_DIR (default: the
# repository holding this file), REELBOX_IT_KEEP=1 keeps the temp dir. Needs
# redis-server, redis-cli, ffprobe, curl, timeout and python3. Prints one PASS/FAIL line
# per check and ends with "N passed, M failed"; exits 1 when a check failed. About 1-2
# minutes on 2 cores.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PY=$(command -v python3 || echo /usr/bin/python3)
T_START=$SECONDS

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
ok() { # COND; ok $? DESCRIPTION: PASS when COND succeeded ($? is expanded first, so the
	# description may hold command substitutions)
	if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
note() { printf '  .. %s\n' "$*"; }

for tool in redis-server redis-cli ffprobe curl timeout "$PY"; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done
[ -x "$BIN" ] || {
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
}

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itprompt.XXXXXX")
chmod 755 "$T"
OUT=$T/out   # `run` outputs
QOUT=$T/qout # the workers' output dir
O=$T/outs    # every stdout and stderr of every command this test runs
LOGS=$T/logs
REC=$T/model/requests.jsonl
mkdir -p "$OUT" "$QOUT" "$O" "$LOGS" "$T/model" "$T/redis" "$T/state"
export REELBOX_STATE_DIR=$T/state
unset REELBOX_CONFIG REELBOX_MODEL_API REELBOX_MODEL_URL REELBOX_MODEL_NAME REELBOX_MODEL_KEY

KEY=sk-reelbox-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
WRONG=sk-reelbox-wrong-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
MARK=itp$$

MS_PID=
REDIS_PID=
WPIDS=()
cleanup() {
	local p
	exec 2>/dev/null
	for p in "${WPIDS[@]}"; do kill -9 "$p"; done
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID"
	[ -n "$MS_PID" ] && kill -9 "$MS_PID"
	wait
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_prompt: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the helpers in python: reading results and the server's record -------------------
cat >"$T/h.py" <<'EOF'
import json, os, re, sys

REC = os.environ["REC"]


def doc(path):
    """The one JSON document in a file (the last line that parses, for --wait output)."""
    text = open(path, errors="replace").read()
    try:
        return json.loads(text)
    except ValueError:
        for line in reversed(text.splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return {}


def atts(d):
    """The model attempts: "attempts" of a result (run --json, submit --wait --json); in
    status --json the top level's "attempts" counts claims and the list is
    result.attempts (docs/cli.md)."""
    if isinstance(d.get("attempts"), list):
        return d["attempts"]
    if isinstance(d.get("attempts"), int) and isinstance(d.get("result"), dict):
        a = d["result"].get("attempts")
        return a if isinstance(a, list) else None
    return None


def records(kind):
    out = []
    try:
        lines = open(REC).read().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("kind") == kind:
            out.append(r)
    return out


def reqs(since):
    """The model requests after seq `since`, bodies parsed, headers in a dict."""
    out = []
    for r in records("request"):
        if r["seq"] > since:
            r["hdr"] = {k.lower(): v for k, v in r["headers"]}
            try:
                r["json"] = json.loads(r["body"])
            except ValueError:
                r["json"] = {}
            out.append(r)
    return out


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def turns(req):
    """[(role, text)] of a request in either dialect, the system prompt first."""
    b = req["json"]
    out = []
    if "system" in b:
        out.append(("system", text_of(b["system"])))
    for m in b.get("messages", []):
        out.append((m.get("role"), text_of(m.get("content"))))
    return out


def last_seq():
    return max([r["seq"] for r in records("request")] + [0])


def sentence(s):
    """One sentence as the project writes them: one line, some words, not a dump."""
    return (isinstance(s, str) and 8 <= len(s) <= 1200 and "\n" not in s and " " in s
            and not s.lstrip().startswith(("{", "[", "Traceback")))


def short(x, n=160):
    s = x if isinstance(x, str) else json.dumps(x)
    return s if len(s) <= n else s[:n] + "..."


def verdict(ok, why):
    print(why)
    sys.exit(0 if ok else 1)
EOF
export REC
pyc() { # pyc 'PYTHON' ARGS...: the helpers imported, A = ARGS
	"$PY" -c "import sys; sys.path[:0] = ['$T', '$SRC/tests']; from h import *; A = sys.argv[1:]
$1" "${@:2}"
}
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
alive() { kill -0 "$1" 2>/dev/null; }
# probe FILE FRAMES: an H.264 64x48 video with FRAMES decoded frames.
probe() {
	local got
	got=$(ffprobe -v error -count_frames -select_streams v:0 \
		-show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$1" 2>/dev/null)
	[ "$got" = "h264,64,48,$2" ]
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- the model server -----------------------------------------------------------------
"$PY" "$SRC/tests/model_server.py" --key "$KEY" --record "$REC" >"$T/model/port" 2>"$T/model/err" &
MS_PID=$!
MPORT=
for _ in $(seq 100); do
	MPORT=$(awk '$1 == "port" { print $2 }' "$T/model/port" 2>/dev/null)
	[ -n "$MPORT" ] && break
	sleep 0.05
done
if [ -z "$MPORT" ]; then
	fail "model_server.py starts: $(head -c 300 "$T/model/err")"
	finish
fi
MURL=http://127.0.0.1:$MPORT/v1
# answers TABLE: the server's answers from now on; SINCE = the last request seq before.
answers() {
	curl -s -f -o /dev/null -d "$1" "http://127.0.0.1:$MPORT/_control/answers" ||
		fail "the model server takes the table $1"
	SINCE=$(pyc 'print(last_seq())')
}
export REELBOX_MODEL_URL=$MURL REELBOX_MODEL_NAME=test-model REELBOX_MODEL_KEY=$KEY

CFG=$T/config.json # what every command uses unless a check says otherwise
printf '{"result_ttl": 600, "model": {"max_attempts": 3, "timeout": 30}}\n' >"$CFG"
CFG_LIM=$T/config-limit.json
printf '{"result_ttl": 600, "model": {"max_attempts": 2, "timeout": 2}}\n' >"$CFG_LIM"
printf '%s\n' "$KEY" >"$T/model.key"
chmod 600 "$T/model.key"
CFG_KF=$T/config-keyfile.json
printf '{"model": {"api": "openai", "url": "%s", "name": "test-model", "key_file": "%s"}}\n' \
	"$MURL" "$T/model.key" >"$CFG_KF"
CFG_KE=$T/config-keyenv.json
printf '{"model": {"url": "%s", "name": "test-model", "key_env": "RB_TEST_OTHER_KEY"}}\n' \
	"$MURL" >"$CFG_KE"
echo '{}' >"$T/config-empty.json"

SZ=(--size 64x48 --fps 10 --frames 5)
# Quotes, a backslash, a newline and non-ASCII: it must reach the model and come back
# unchanged.
PROMPT=$(printf 'a colour ramp that cycles through "red" \\ for half a second,\nthen fades — ünï (%s)' "$MARK")
# rp NAME [OPTS...]: `run --prompt` into $O/NAME.json and .err; RC and MS (elapsed).
rp() {
	local name=$1 t0
	shift
	t0=$(now_ms)
	timeout 120 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" --config "${RP_CFG:-$CFG}" --json \
		-o "$OUT/$name.mp4" "$@" >"$O/$name.json" 2>"$O/$name.err"
	RC=$?
	MS=$(($(now_ms) - t0))
}
# The sentence a failed run printed (--json error, else stderr's last line).
err_of() {
	pyc 'd = doc(A[0]); print(d.get("error") or "")' "$O/$1.json" 2>/dev/null
}

note "model server on port $MPORT, work dir $T"

# ==== a. a good answer renders =========================================================
echo "== a. run --prompt, both dialects"
answers '["good"]'
rp a_openai
check "run --prompt (openai) exits 0 ($RC, $MS ms): $(head -c 200 "$O/a_openai.err")" [ "$RC" -eq 0 ]
check "its video is H.264 64x48 with 5 frames" probe "$OUT/a_openai.mp4" 5
why=$(pyc '
d = doc(A[0]); a = atts(d) or []
ok = (d.get("status") == "succeeded" and d.get("prompt") == A[1] and "import os, sys" in (d.get("script") or "")
      and len(a) == 1 and a[0].get("status") == "succeeded" and a[0].get("script") == d.get("script")
      and a[0].get("runtime") in ("python3", "python") and isinstance(a[0].get("model_ms"), int)
      and isinstance(a[0].get("render_ms"), int) and a[0]["render_ms"] > 0
      and (a[0].get("input_tokens") or 0) > 0 and (a[0].get("output_tokens") or 0) > 0
      and d.get("frames") == 5)
verdict(ok, "status %s, prompt %s, %d attempt(s): %s" % (d.get("status"), "ok" if d.get("prompt") == A[1] else repr(d.get("prompt")),
        len(a), short([{k: v for k, v in x.items() if k not in ("script", "log")} for x in a], 300)))' \
	"$O/a_openai.json" "$PROMPT")
ok $? "run --json has prompt, script, one attempt with runtime, model_ms, render_ms, tokens ($why)"
why=$(pyc '
r = reqs(int(A[0]))
if len(r) != 1: verdict(False, "%d requests" % len(r))
r = r[0]; t = turns(r); allt = " ".join(x[1] for x in t)
ok = (r["path"] == "/v1/chat/completions" and r["hdr"].get("authorization") == "Bearer " + A[1]
      and "x-api-key" not in r["hdr"] and r["json"].get("model") == "test-model"
      and t[0][0] == "system" and "WIDTH" in t[0][1] and t[-1][0] == "user" and A[2] in t[-1][1]
      and "64" in allt and "48" in allt and "python" in allt.lower())
verdict(ok, "%s, roles %s, system prompt %d chars, size named: %s" % (r["path"], [x[0] for x in t], len(t[0][1]) if t else 0,
        "64" in allt and "48" in allt))' "$SINCE" "$KEY" "$PROMPT")
ok $? "the request: POST /v1/chat/completions, Bearer key, model name, a system prompt teaching the protocol, the prompt and the job's size ($why)"

answers '["good"]'
REELBOX_MODEL_API=anthropic rp a_anthropic
check "run --prompt (anthropic) exits 0 ($RC, $MS ms): $(head -c 200 "$O/a_anthropic.err")" [ "$RC" -eq 0 ]
check "its video is H.264 64x48 with 5 frames" probe "$OUT/a_anthropic.mp4" 5
why=$(pyc '
r = reqs(int(A[0]))
if len(r) != 1: verdict(False, "%d requests" % len(r))
r = r[0]; t = turns(r); d = doc(A[3]); a = atts(d) or []
ok = (r["path"] == "/v1/messages" and r["hdr"].get("x-api-key") == A[1] and "authorization" not in r["hdr"]
      and r["hdr"].get("anthropic-version") and t[0][0] == "system" and "WIDTH" in t[0][1]
      and A[2] in t[-1][1] and isinstance(r["json"].get("max_tokens"), int)
      and len(a) == 1 and (a[0].get("input_tokens") or 0) > 0)
verdict(ok, "%s, anthropic-version %s, roles %s, %d attempt(s)" % (r["path"], r["hdr"].get("anthropic-version"), [x[0] for x in t], len(a)))' \
	"$SINCE" "$KEY" "$PROMPT" "$O/a_anthropic.json")
ok $? "the request: POST /v1/messages, x-api-key, anthropic-version, system, max_tokens ($why)"

answers '[{"text": "```sh\nhead -c $((WIDTH * HEIGHT * 3 * FRAMES)) /dev/zero | tr \"\\\\000\" \"\\\\100\"\n```"}]'
rp a_sh
why=$(pyc '
d = doc(A[0]); a = atts(d) or [{}]
verdict(d.get("status") == "succeeded" and a[0].get("runtime") == "sh", "%s, runtime %s, %s" % (d.get("status"), a[0].get("runtime"), short(d.get("error"))))' \
	"$O/a_sh.json")
v=$?
[ $v -eq 0 ] && probe "$OUT/a_sh.mp4" 5
ok $? "a block tagged sh runs with sh (rc $RC; $why)"

"$PY" -c 'print("x" * 17000, end="")' >"$T/long.prompt"
timeout 30 "$BIN" run --prompt "$(cat "$T/long.prompt")" "${SZ[@]}" --config "$CFG" -o "$OUT/a_long.mp4" \
	>"$O/a_long.out" 2>"$O/a_long.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$O/a_long.err")" -eq 1 ] && grep -q 16384 "$O/a_long.err"
ok $? "a 17000-byte prompt is a usage error naming the 16384-byte cap (rc $rc: $(head -c 200 "$O/a_long.err"))"

answers '["good"]'
env -u REELBOX_MODEL_KEY -u REELBOX_MODEL_URL -u REELBOX_MODEL_NAME \
	timeout 60 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" --config "$CFG_KF" --json \
	-o "$OUT/a_keyfile.mp4" >"$O/a_keyfile.json" 2>"$O/a_keyfile.err"
rc=$?
why=$(pyc 'r = reqs(int(A[0])); print(r[0]["hdr"].get("authorization") == "Bearer " + A[1] if r else "no request")' "$SINCE" "$KEY")
[ "$rc" -eq 0 ] && [ "$why" = True ]
ok $? "the key from the config's key_file, the endpoint from the config (rc $rc, key sent: $why) $(head -c 200 "$O/a_keyfile.err")"
answers '["good"]'
env -u REELBOX_MODEL_KEY -u REELBOX_MODEL_URL -u REELBOX_MODEL_NAME RB_TEST_OTHER_KEY="$KEY" \
	timeout 60 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" --config "$CFG_KE" --json \
	-o "$OUT/a_keyenv.mp4" >"$O/a_keyenv.json" 2>"$O/a_keyenv.err"
rc=$?
why=$(pyc 'r = reqs(int(A[0])); print(r[0]["hdr"].get("authorization") == "Bearer " + A[1] if r else "no request")' "$SINCE" "$KEY")
[ "$rc" -eq 0 ] && [ "$why" = True ]
ok $? "the key from the variable key_env names (rc $rc, key sent: $why) $(head -c 200 "$O/a_keyenv.err")"

cp "$T/model.key" "$T/model-open.key"
chmod 644 "$T/model-open.key"
sed "s|$T/model.key|$T/model-open.key|" "$CFG_KF" >"$T/config-openkey.json"
env -u REELBOX_MODEL_KEY -u REELBOX_MODEL_URL -u REELBOX_MODEL_NAME \
	timeout 60 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" --config "$T/config-openkey.json" \
	-o "$OUT/a_openkey.mp4" >"$O/a_openkey.out" 2>"$O/a_openkey.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$O/a_openkey.err")" -eq 1 ] && grep -q "model-open.key" "$O/a_openkey.err"
ok $? "a key file others can read is refused: usage error 2, naming the file (rc $rc: $(head -c 240 "$O/a_openkey.err"))"
rm -f "$T/model-open.key"

answers '["good"]'
printf '%s' "$PROMPT" | timeout 60 "$BIN" run --prompt-file - "${SZ[@]}" --config "$CFG" --json \
	-o "$OUT/a_stdin.mp4" >"$O/a_stdin.json" 2>"$O/a_stdin.err"
rc=$?
why=$(pyc 'd = doc(A[0]); verdict(d.get("prompt") == A[1] and d.get("status") == "succeeded", "%s, prompt %s" % (d.get("status"), "the same" if d.get("prompt") == A[1] else short(d.get("prompt"))))' \
	"$O/a_stdin.json" "$PROMPT")
ok $? "--prompt-file - reads the prompt from stdin (rc $rc; $why)"

env -u REELBOX_MODEL_URL -u REELBOX_MODEL_NAME timeout 30 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" \
	--config "$T/config-empty.json" -o "$OUT/a_nomodel.mp4" >"$O/a_nomodel.out" 2>"$O/a_nomodel.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$O/a_nomodel.err")" -eq 1 ] && grep -q REELBOX_MODEL_URL "$O/a_nomodel.err"
ok $? "no model configured: usage error 2, one line naming REELBOX_MODEL_URL (rc $rc: $(head -c 240 "$O/a_nomodel.err"))"
printf 'print(1)\n' >"$T/a_script.py"
timeout 30 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" --config "$CFG" -o "$OUT/a_both.mp4" "$T/a_script.py" \
	>"$O/a_both.out" 2>"$O/a_both.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$O/a_both.err")" -eq 1 ] && ! grep -q unrecognized "$O/a_both.err"
ok $? "a prompt and a script together: usage error 2, one line (rc $rc: $(head -c 240 "$O/a_both.err"))"

# ==== b. the repair loop ===============================================================
echo "== b. repair: [buggy, good]"
answers '["buggy", "good"]'
rp b_repair
why=$(pyc '
d = doc(A[0]); a = atts(d) or []
ok = (len(a) == 2 and a[0].get("status") != "succeeded" and "NameError" in (a[0].get("error") or "")
      and "colour(i)" in (a[0].get("script") or "") and a[1].get("status") == "succeeded"
      and d.get("status") == "succeeded" and d.get("script") == a[1].get("script")
      and "NameError" in (a[0].get("log") or "") and sentence(a[0].get("error")))
verdict(ok, "%s after %d attempts; attempt 1: %s: %s" % (d.get("status"), len(a), a[0].get("status") if a else "-",
        short(a[0].get("error") if a else "")))' "$O/b_repair.json")
v=$?
[ $v -eq 0 ] && [ "$RC" -eq 0 ]
ok $? "rc $RC: succeeded on attempt 2 ($why)"
check "its video is valid" probe "$OUT/b_repair.mp4" 5
why=$(pyc '
r = reqs(int(A[0]))
if len(r) != 2: verdict(False, "%d requests" % len(r))
t = turns(r[1]); roles = [x[0] for x in t]
asst = [x[1] for x in t if x[0] == "assistant"]; last = t[-1][1]
ok = (roles[-3:] == ["user", "assistant", "user"] and asst and "colour(i)" in asst[-1]
      and "NameError" in last and A[1] in t[-3][1] and len(t) == len(turns(r[0])) + 2)
verdict(ok, "roles %s; the last user turn: %s" % (roles, short(last, 240)))' "$SINCE" "$PROMPT")
ok $? "the 2nd request: the 1st answer as the assistant turn, its NameError in the user turn ($why)"

answers '["buggy", "good"]'
timeout 60 "$BIN" run --prompt "$PROMPT" "${SZ[@]}" --config "$CFG" -o "$OUT/b_text.mp4" \
	>"$O/b_text.out" 2>"$O/b_text.err"
rc=$?
[ "$rc" -eq 0 ] &&
	grep -q "^reelbox: attempt 1 (python3, model [0-9]* ms, render [0-9]* ms): failed: script exited with status 1: NameError" "$O/b_text.err" &&
	grep -q "^reelbox: attempt 2 (python3, model [0-9]* ms, render [0-9]* ms): rendered" "$O/b_text.err"
ok $? "without --json, run says each attempt on stderr (rc $rc: $(grep attempt "$O/b_text.err" | cut -c1-110 | tr '\n' '|'))"

answers '[{"text": "```python\nimport os, sys\nfor i in range(int(os.environ[\"FRAMES\"]):\n    pass\n```"}, "good"]'
rp b_syntax
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
e = (a[0].get("error") or "") if a else ""
ok = (len(a) == 2 and "SyntaxError" in e and sentence(e) and d.get("status") == "succeeded"
      and len(r) == 2 and "SyntaxError" in turns(r[1])[-1][1])
verdict(ok, "%d attempts, attempt 1 (render_ms %s): %s" % (len(a), a[0].get("render_ms") if a else "-", short(e, 240)))' \
	"$O/b_syntax.json" "$SINCE")
v=$?
[ $v -eq 0 ] && [ "$RC" -eq 0 ]
ok $? "a Python syntax error: a failed attempt (the interpreter's own compile) sent back, then succeeded (rc $RC; $why)"

answers '[{"text": "```sh\nif [ -n \"$WIDTH\" ]; then\n  echo start >&2\n```"}, "good"]'
rp b_sh_syntax
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
e = (a[0].get("error") or "") if a else ""
ok = (len(a) == 2 and a[0].get("runtime") == "sh" and "does not parse" in e and sentence(e)
      and a[0].get("check_ms", 0) > 0 and a[0].get("render_ms") == 0
      and d.get("status") == "succeeded" and len(r) == 2 and "does not parse" in turns(r[1])[-1][1])
verdict(ok, "%d attempts, attempt 1 (check_ms %s, render_ms %s): %s" % (len(a), a[0].get("check_ms") if a else "-", a[0].get("render_ms") if a else "-", short(e, 200)))' \
	"$O/b_sh_syntax.json" "$SINCE")
v=$?
[ $v -eq 0 ] && [ "$RC" -eq 0 ]
ok $? "a shell syntax error: caught by sh -n in the sandbox before any render, sent back, then succeeded (rc $RC; $why)"

# ==== c. a script that prints to stdout ================================================
echo "== c. prints text to stdout before its frames"
answers '["prints", "good"]'
rp c_prints
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
if not a: verdict(False, "no attempts")
if a[0].get("status") == "succeeded":
    w = d.get("warnings") or []
    verdict(len(a) == 1 and len(w) > 0, "succeeded on attempt 1 with warnings %s" % short(w, 300))
e = a[0].get("error") or ""
carried = len(r) >= 2 and e[:60] in turns(r[1])[-1][1]
verdict(sentence(e) and carried and len(a) == 2 and d.get("status") == "succeeded",
        "attempt 1 %s: %s; sent back: %s; then %s" % (a[0].get("status"), short(e, 300), carried, d.get("status")))' \
	"$O/c_prints.json" "$SINCE")
ok $? "rc $RC: $why"

# ==== d. the attempt limit =============================================================
echo "== d. always buggy, model.max_attempts 2"
answers '["buggy"]'
RP_CFG=$CFG_LIM rp d_limit
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
ok = (len(a) == 2 and all(x.get("status") != "succeeded" and "NameError" in (x.get("error") or "") and "colour(i)" in (x.get("script") or "") for x in a)
      and len(r) == 2 and d.get("status") == "failed" and sentence(d.get("error")))
verdict(ok, "%s, %d attempts, %d requests: %s" % (d.get("status"), len(a), len(r), short(d.get("error"), 240)))' \
	"$O/d_limit.json" "$SINCE")
v=$?
[ $v -eq 0 ] && [ "$RC" -eq 1 ]
ok $? "exit 1 after exactly 2 attempts, each recorded (rc $RC; $why)"
[ "$RC" -eq 1 ] && [ ! -e "$OUT/d_limit.mp4" ]
ok $? "a failed prompt run leaves no file at -o"

# ==== e. no code in the answer =========================================================
echo "== e. prose, no code block"
answers '["nocode", "good"]'
rp e_nocode
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
if not a or len(r) < 2: verdict(False, "%d attempts, %d requests" % (len(a), len(r)))
e = a[0].get("error") or ""; t = turns(r[1])
ok = (a[0].get("status") != "succeeded" and sentence(e) and t[-2][0] == "assistant" and "sorry" in t[-2][1]
      and e[:60] in t[-1][1] and d.get("status") == "succeeded" and len(a) == 2)
verdict(ok, "attempt 1 %s: %s; the 2nd request ends %s" % (a[0].get("status"), short(e, 240), short(t[-1][1], 160)))' \
	"$O/e_nocode.json" "$SINCE")
ok $? "rc $RC: $why"

answers '[{"text": "```ruby\nputs 1\n```"}, "good"]'
rp e_ruby
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
if not a or len(r) < 2: verdict(False, "%d attempts, %d requests" % (len(a), len(r)))
e = a[0].get("error") or ""
verdict("ruby" in e and sentence(e) and e[:40] in turns(r[1])[-1][1] and d.get("status") == "succeeded",
        "attempt 1: %s" % short(e, 240))' "$O/e_ruby.json" "$SINCE")
ok $? "a block tagged ruby: a failed attempt saying so, sent back (rc $RC; $why)"

# ==== f. the model's HTTP failures =====================================================
echo "== f. 429, 500, 401, an echoed key"
answers '["ratelimit", "good"]'
rp f_429
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; r = reqs(int(A[1]))
ans = {x["seq"]: x["t"] for x in records("answered")}
gap = r[1]["t"] - ans.get(r[0]["seq"], r[0]["t"]) if len(r) == 2 else -1
verdict(d.get("status") == "succeeded" and len(a) == 1 and len(r) == 2 and gap >= 0.9,
        "%s, %d attempt(s), %d requests, %.2f s between the 429 and the retry" % (d.get("status"), len(a), len(r), gap))' \
	"$O/f_429.json" "$SINCE")
v=$?
[ $v -eq 0 ] && [ "$RC" -eq 0 ]
ok $? "429 with Retry-After: 1, then good: rc $RC ($why)"

answers '["error500"]'
rp f_500
e=$(err_of f_500)
n=$(pyc 'print(len(reqs(int(A[0]))))' "$SINCE")
[ "$RC" -eq 1 ] && [[ $e == *"model at $MURL"* ]] && [[ $e == *500* ]] && [ "$n" -ge 2 ] &&
	pyc 'sys.exit(0 if sentence(A[0]) else 1)' "$e" && [ ! -e "$OUT/f_500.mp4" ]
ok $? "500 for ever: rc $RC after $MS ms and $n requests: $e"

DEAD=$(free_port)
REELBOX_MODEL_URL=http://127.0.0.1:$DEAD/v1 rp f_refused
e=$(err_of f_refused)
[ "$RC" -eq 1 ] && [[ $e == *"model at http://127.0.0.1:$DEAD/v1"* ]] && [ "$MS" -lt 30000 ] &&
	pyc 'sys.exit(0 if sentence(A[0]) else 1)' "$e"
ok $? "nothing listening at the model URL: rc $RC after $MS ms: $e"

RAW=$("$PY" -c 'import json, sys
sys.path.insert(0, sys.argv[1]); import model_server as m
body = {"choices": [{"message": {"role": "assistant", "content": m.fenced("python", m.GOOD)}, "finish_reason": "stop"}]}
print(json.dumps([{"raw": json.dumps(body)}]))' "$SRC/tests")
answers "$RAW"
rp f_nousage
why=$(pyc '
d = doc(A[0]); a = atts(d) or [{}]
verdict(d.get("status") == "succeeded" and a[0].get("input_tokens", -1) == -1 and a[0].get("output_tokens", -1) == -1,
        "%s, tokens %s/%s" % (d.get("status"), a[0].get("input_tokens", "absent"), a[0].get("output_tokens", "absent")))' "$O/f_nousage.json")
ok $? "an answer without usage: tokens -1 or absent (rc $RC; $why)"

answers '["good"]'
REELBOX_MODEL_KEY=$WRONG rp f_401
e=$(err_of f_401)
[ "$RC" -eq 1 ] && [[ $e == *"check REELBOX_MODEL_KEY"* ]] && [[ $e == *401* ]] &&
	! grep -qF -e "$WRONG" -e "$KEY" "$O/f_401.json" "$O/f_401.err"
ok $? "401 (a wrong key): rc $RC: $e (neither key in stdout or stderr)"

answers '["echo_key"]'
rp f_echo
why=$(pyc '
d = doc(A[0]); s = d.get("script") or ""
verdict(d.get("status") == "succeeded" and "[redacted]" in s, "%s; the script starts %s" % (d.get("status"), short(s, 60)))' \
	"$O/f_echo.json")
v=$?
[ $v -eq 0 ] && ! grep -qF "$KEY" "$O/f_echo.json" "$O/f_echo.err"
ok $? "an answer quoting the key: the key is redacted in the recorded script (rc $RC; $why)"
answers '["echo_key_error"]'
rp f_echo_err
e=$(err_of f_echo_err)
[ "$RC" -eq 1 ] && [ -n "$e" ] && ! grep -qF "$KEY" "$O/f_echo_err.json" "$O/f_echo_err.err"
ok $? "an error quoting the key: the key is not in the sentence (rc $RC: $e)"

# ==== g. a slow answer, a huge answer ==================================================
echo "== g. model.timeout 2 against a 6 s answer; a 64 MiB answer"
answers '[{"like": "good", "delay_ms": 6000}]'
RP_CFG=$CFG_LIM rp g_slow &
RP_PID=$!
sleep 1
# The key in `run`'s environment while the model thinks: wiped, as in the worker.
rpid=
for p in $(pgrep -f -- "$MARK" 2>/dev/null); do
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$BIN")" ] && rpid=$p
done
[ -n "$rpid" ] && [ -r "/proc/$rpid/environ" ] && ! tr '\0' '\n' <"/proc/$rpid/environ" | grep -qF "$KEY"
ok $? "run (pid ${rpid:-not found}) holds no key in /proc/<pid>/environ while the model thinks"
wait "$RP_PID"
RC=$(pyc 'd = doc(A[0]); print(1 if d.get("status") == "failed" else 0)' "$O/g_slow.json")
e=$(err_of g_slow)
ms=$(pyc 'd = doc(A[0]); print((d.get("timings") or {}).get("total_ms", "?"))' "$O/g_slow.json")
gone=$(pyc 'print(sum(1 for o in records("outcome") if o["seq"] > int(A[0]) and o.get("gone")))' "$SINCE")
n=$(pyc 'print(len(reqs(int(A[0]))))' "$SINCE")
[ "$RC" -eq 1 ] && [[ ${e,,} == *time* ]] && [[ $e == *"model at $MURL"* ]] &&
	pyc 'sys.exit(0 if sentence(A[0]) else 1)' "$e" && [ "$n" -ge 1 ] && [ "$n" -le 4 ] &&
	[ "$gone" -eq "$n" ] && [ -s "$O/g_slow.json" ]
ok $? "a 6 s answer with timeout 2: failed after $n request(s), the worker hung up on each ($gone), total ${ms} ms: $e"

answers '["huge"]'
rp g_huge
e=$(err_of g_huge)
sent=$(pyc 'o = [x for x in records("outcome") if x["seq"] > int(A[0]) and "sent" in x]; print(max([x["sent"] for x in o] + [0]))' "$SINCE")
[ "$RC" -eq 1 ] && [[ $e =~ (byte|MiB|MB|too\ (large|big)|over) ]] && [ "$MS" -lt 20000 ] &&
	[ "$sent" -lt $((60 << 20)) ] && pyc 'sys.exit(0 if sentence(A[0]) else 1)' "$e"
ok $? "a 64 MiB answer: refused after $MS ms having read at most $((sent >> 20)) MiB: $e"

# ==== h. the key hunter through run ====================================================
echo "== h. the key-hunting answer (run)"
RPORT=$(free_port)
HUNT=$(printf '[{"like": "hunter", "ports": [%s, 6379], "paths": ["%s", "%s", "%s", "%s"]}]' \
	"$RPORT" "$T/model.key" "$CFG_KF" "$REC" "$T/redis/dump.rdb")
answers "$HUNT"
rp h_hunter
why=$(pyc '
d = doc(A[0]); log = d.get("log") or ""
a = atts(d) or [{}]; log = log or a[-1].get("log") or ""
ok = (d.get("status") == "succeeded" and "found: 0" in log and "denied" in log and "hunt:" in log
      and "reached []" in log)
lines = [l for l in log.splitlines() if "denied" in l or "found" in l or "hunt:" in l]
verdict(ok, "%s; %s" % (d.get("status"), " | ".join(short(l, 110) for l in lines[:8])))' "$O/h_hunter.json")
v=$?
[ $v -eq 0 ] && ! grep -qF "$KEY" "$O/h_hunter.json" "$O/h_hunter.err"
ok $? "the hunter finds nothing and its log says what was denied (rc $RC; $why)"

# ==== i. the queue =====================================================================
echo "== i. submit --prompt to a real worker"
RPORT_USED=$RPORT
redis-server --port "$RPORT_USED" --bind 127.0.0.1 --dir "$T/redis" --appendonly yes \
	--appendfsync always --save '' --rdbcompression no --aof-use-rdb-preamble no \
	--protected-mode no --logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
RCLI=(redis-cli -h 127.0.0.1 -p "$RPORT_USED")
for _ in $(seq 100); do
	[ "$("${RCLI[@]}" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
if [ "$("${RCLI[@]}" ping 2>/dev/null)" != PONG ]; then
	fail "redis-server starts on 127.0.0.1:$RPORT_USED"
	finish
fi
export REELBOX_REDIS_URL=redis://127.0.0.1:$RPORT_USED
start_worker() { # start_worker NAME [OPTS]: concurrency 2, lease 3 s; log in $LOGS/NAME.log
	local name=$1
	shift
	"$BIN" worker --concurrency 2 --output-dir "$QOUT" --lease 3 --grace 5 --config "$CFG" \
		"$@" 2>"$LOGS/$name.log" &
	WPID=$!
	WPIDS+=("$WPID")
	for _ in $(seq 100); do
		grep -q '"event":"redis_connected"' "$LOGS/$name.log" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# stop_worker PID: SIGTERM; WRC = its exit status (255: still running after 15 s).
stop_worker() {
	kill -TERM "$1"
	WRC=255
	for _ in $(seq 150); do
		alive "$1" || {
			wait "$1"
			WRC=$?
			return 0
		}
		sleep 0.1
	done
}
pid_of_consumer() { # host-pid-random -> pid
	local c=${1%-*}
	echo "${c##*-}"
}
# environ_clean PID: the key is not in the process's environment block.
environ_clean() {
	[ -r "/proc/$1/environ" ] && ! tr '\0' '\n' <"/proc/$1/environ" | grep -qF "$KEY"
}
status_json() { timeout 20 "$BIN" status --json "$1" >"$O/status-$1.json" 2>>"$O/status.err"; }
st_field() { status_json "$1" && pyc 'print(doc(A[0]).get(A[1]) or "")' "$O/status-$1.json" "$2"; }
wait_state() { # wait_state ID SECONDS STATE...
	local id=$1 secs=$2 _ s st
	shift 2
	for _ in $(seq $((secs * 5))); do
		st=$(st_field "$id" state)
		for s in "$@"; do [ "$st" = "$s" ] && return 0; done
		sleep 0.2
	done
	return 1
}
# wait_request SECONDS: until the model server has a request after $SINCE.
wait_request() {
	local _
	for _ in $(seq $(($1 * 20))); do
		[ "$(pyc 'print(last_seq())')" -gt "$SINCE" ] && return 0
		sleep 0.05
	done
	return 1
}

# A worker without a model dead-letters prompt jobs with a sentence (docs/jobs.md).
env -u REELBOX_MODEL_URL -u REELBOX_MODEL_NAME -u REELBOX_MODEL_KEY "$BIN" worker --concurrency 1 \
	--output-dir "$QOUT" --lease 3 --grace 5 --config "$T/config-empty.json" 2>"$LOGS/W0.log" &
W0=$!
WPIDS+=("$W0")
sub() { # sub NAME [OPTS...]: submit --prompt --id $MARK-NAME
	local name=$1
	shift
	timeout 90 "$BIN" submit --prompt "$PROMPT" --id "$MARK-$name" "${SZ[@]}" --config "$CFG" "$@" \
		>"$O/sub-$name.json" 2>"$O/sub-$name.err"
}
sub nomodel
wait_state "$MARK-nomodel" 15 dead failed succeeded
st=$(st_field "$MARK-nomodel" state)
e=$(st_field "$MARK-nomodel" error)
[ "$st" = dead ] && [[ $e == *"no model for prompt jobs"* ]]
ok $? "a worker without a model dead-letters a prompt job ($st: $e)"
stop_worker "$W0"
check "that worker exits 0 on SIGTERM ($WRC)" [ "$WRC" -eq 0 ]

start_worker W1
ok $? "worker W1 starts (pid $WPID)"
W1=$WPID
sleep 0.3
check "the worker's /proc/$W1/environ holds no key (it had REELBOX_MODEL_KEY at start)" environ_clean "$W1"

answers '["good"]'
sub good --wait --json
rc=$?
why=$(pyc 'd = doc(A[0]); print(d.get("state") or d.get("status"), d.get("output"))' "$O/sub-good.json")
[ "$rc" -eq 0 ] && [[ $why == succeeded* ]]
ok $? "submit --prompt --wait --json exits 0 ($rc: $why) $(head -c 200 "$O/sub-good.err")"
check "its video (<id>.mp4 in the output dir) is H.264 64x48 with 5 frames" probe "$QOUT/$MARK-good.mp4" 5
status_json "$MARK-good"
why=$(pyc '
d = doc(A[0]); a = atts(d) or []
ok = (d.get("state") == "succeeded" and d.get("prompt") == A[1] and "import os, sys" in (d.get("script") or "")
      and len(a) == 1 and a[0].get("status") == "succeeded" and isinstance(a[0].get("model_ms"), int)
      and isinstance(a[0].get("render_ms"), int))
verdict(ok, "state %s, attempts %s, prompt %s" % (d.get("state"), short(d.get("attempts"), 200), d.get("prompt") == A[1]))' \
	"$O/status-$MARK-good.json" "$PROMPT")
ok $? "status --json shows prompt, script and the attempts list ($why)"
timeout 20 "$BIN" status --script "$MARK-good" >"$O/script-good.out" 2>"$O/script-good.err"
rc=$?
why=$(pyc '
import model_server
s = open(A[0]).read(); d = doc(A[1])
verdict(s.rstrip("\n") == (d.get("script") or "-").rstrip("\n") and s.rstrip("\n") == model_server.GOOD.rstrip("\n"),
        "%d bytes, first line %r" % (len(s), s.split("\n")[0]))' \
	"$O/script-good.out" "$O/status-$MARK-good.json" 2>&1)
v=$?
[ $v -eq 0 ] && [ "$rc" -eq 0 ]
ok $? "status --script prints the final script (rc $rc; $why)"

answers '["buggy", "good"]'
sub repair --wait --json
rc=$?
status_json "$MARK-repair"
why=$(pyc '
d = doc(A[0]); a = atts(d) or []
verdict(d.get("state") == "succeeded" and len(a) == 2 and "NameError" in (a[0].get("error") or ""),
        "%s, %d attempts: %s" % (d.get("state"), len(a), short(a[0].get("error") if a else "", 160)))' \
	"$O/status-$MARK-repair.json")
v=$?
[ $v -eq 0 ] && [ "$rc" -eq 0 ]
ok $? "the repair loop in the worker: [buggy, good] (rc $rc; $why)"

timeout 20 "$BIN" status "$MARK-repair" >"$O/status-text-repair.out" 2>&1
grep -q "try 1" "$O/status-text-repair.out" && grep -q "try 2" "$O/status-text-repair.out" &&
	grep -qF "$MARK" "$O/status-text-repair.out"
ok $? "status (text) shows the prompt and one try line per attempt: $(grep -m2 try "$O/status-text-repair.out" | tr '\n' '|' | cut -c1-200)"

answers '["buggy"]'
sub limit --wait --json
rc=$?
why=$(pyc '
d = doc(A[0]); a = atts(d) or []
verdict(d.get("state", d.get("status")) == "failed" and len(a) == 3 and all("NameError" in (x.get("error") or "") for x in a),
        "%s, %d attempts: %s" % (d.get("state", d.get("status")), len(a), short(d.get("error"), 160)))' "$O/sub-limit.json")
v=$?
[ $v -eq 0 ] && [ "$rc" -eq 1 ]
ok $? "submit --wait of an always-buggy prompt exits 1 after model.max_attempts 3 (rc $rc; $why)"

# A model outage is not the prompt's fault: the claim fails after model.c's retries, the
# job goes back to the queue, and the next claim (the model back) renders it.
answers '[{"status": 500, "error": "down"}, {"status": 500, "error": "down"}, {"status": 500, "error": "down"}, {"status": 500, "error": "down"}, "good"]'
sub outage --wait --json
rc=$?
status_json "$MARK-outage"
why=$(pyc '
d = doc(A[0])
verdict(d.get("state") == "succeeded" and int(d.get("attempts") or 0) == 2,
        "%s after %s claims" % (d.get("state"), d.get("attempts")))' "$O/status-$MARK-outage.json")
v=$?
[ $v -eq 0 ] && [ "$rc" -eq 0 ] && grep -q '"job_model_failure"' "$LOGS"/W1.log
ok $? "a model outage hands the job back; the next claim renders it (rc $rc; $why)"

# Three failed 40 KB scripts: the result in Redis stays under its 64 KiB cap (the attempts
# share 32 KiB, cut on characters), the final script is a field of its own, kept whole.
BIG=$(python3 -c 'import json; c = "# " + "é" * 20000 + "\nraise SystemExit(3)\n"; print(json.dumps([{"text": "```python\n" + c + "```"}]))')
answers "$BIG"
sub big --wait --json
status_json "$MARK-big"
timeout 20 "$BIN" status --script "$MARK-big" >"$O/script-big.out" 2>"$O/script-big.err"
why=$(pyc '
d = doc(A[0]); a = atts(d) or []; s = open(A[1], encoding="utf-8").read()
ok = (d.get("state") == "failed" and len(a) == 3 and all(x.get("script_bytes", 0) > 40000 for x in a)
      and all(len(x.get("script") or "") < 12000 and "\ufffd" not in x["script"] for x in a)
      and len((d.get("script") or "").encode()) > 40000 and s == d.get("script"))
verdict(ok, "%s, %d attempts, attempt scripts %s chars, final %d bytes, --script %d bytes" % (d.get("state"), len(a),
        [len(x.get("script") or "") for x in a], len((d.get("script") or "").encode()), len(s.encode())))' \
	"$O/status-$MARK-big.json" "$O/script-big.out")
ok $? "three 40 KB failed scripts: the result is kept with every attempt, the final script whole ($why)"

answers "$HUNT"
sub hunter --wait --json
rc=$?
status_json "$MARK-hunter"
why=$(pyc '
d = doc(A[0]); a = atts(d) or [{}]; log = d.get("log") or a[-1].get("log") or ""
lines = [l for l in log.splitlines() if "denied" in l or "found" in l or "hunt:" in l]
verdict(d.get("state") == "succeeded" and "found: 0" in log and "denied" in log and "reached []" in log,
        "%s; %s" % (d.get("state"), " | ".join(short(l, 110) for l in lines[:8])))' "$O/status-$MARK-hunter.json")
v=$?
[ $v -eq 0 ] && [ "$rc" -eq 0 ]
ok $? "the hunter in the worker finds nothing, the log says what was denied (rc $rc; $why)"

timeout 30 "$BIN" submit --prompt "$PROMPT" "${SZ[@]}" --config "$CFG" "$T/a_script.py" \
	>"$O/sub-both.out" 2>"$O/sub-both.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$O/sub-both.err")" -eq 1 ] && ! grep -q unrecognized "$O/sub-both.err"
ok $? "submit with a prompt and a script: usage error 2 (rc $rc: $(head -c 200 "$O/sub-both.err"))"
for kind in both neither; do
	case $kind in
	both) d='{"prompt": "a red square", "script": "print(1)", "runtime": "python3", "width": 64, "height": 48, "frames": 5}' ;;
	neither) d='{"runtime": "python3", "width": 64, "height": 48, "frames": 5}' ;;
	esac
	"${RCLI[@]}" xadd reelbox:jobs '*' id "$MARK-raw$kind" job "$d" >/dev/null
	wait_state "$MARK-raw$kind" 15 dead failed succeeded
	st=$(st_field "$MARK-raw$kind" state)
	e=$(st_field "$MARK-raw$kind" error)
	[[ $st == dead || $st == failed ]] && pyc 'sys.exit(0 if sentence(A[0]) else 1)' "$e"
	ok $? "a raw job document with $kind of prompt and script is refused with a sentence ($st: $e)"
done

echo "== i. cancel while the model thinks"
answers '[{"like": "good", "delay_ms": 20000}]'
sub cancel
wait_request 15
ok $? "the worker asked the model for $MARK-cancel"
t0=$(now_ms)
timeout 20 "$BIN" cancel "$MARK-cancel" >"$O/cancel.out" 2>"$O/cancel.err"
crc=$?
wait_state "$MARK-cancel" 10 cancelled
st=$(st_field "$MARK-cancel" state)
cms=$(($(now_ms) - t0))
gone=
for _ in $(seq 50); do
	gone=$(pyc 'print(sum(1 for o in records("outcome") if o["seq"] > int(A[0]) and o.get("gone")))' "$SINCE")
	[ "$gone" -ge 1 ] && break
	sleep 0.1
done
# Bounded, well inside the model's 20 s: the cancel is seen at the next heartbeat (1 s)
# and the model call hung up; 10 s leaves room for a loaded CI host.
[ "$crc" -eq 0 ] && [ "$st" = cancelled ] && [ "$cms" -lt 10000 ]
ok $? "cancel ends it $st in $cms ms (rc $crc: $(head -c 160 "$O/cancel.out"))"
check "the worker hung up on the model (the server saw the client go: $gone)" [ "${gone:-0}" -ge 1 ]

echo "== i. SIGKILL the worker during a model call"
answers '[{"like": "good", "delay_ms": 20000}, "good"]'
sub kill
wait_request 15
ok $? "the worker asked the model for $MARK-kill"
holder=$(st_field "$MARK-kill" worker)
{
	kill -9 "$W1"
	wait "$W1"
} 2>/dev/null
start_worker W2
W2=$WPID
sleep 0.3
check "the new worker's /proc/$W2/environ holds no key" environ_clean "$W2"
t0=$SECONDS
wait_state "$MARK-kill" 40 succeeded failed dead cancelled
st=$(st_field "$MARK-kill" state)
status_json "$MARK-kill"
why=$(pyc 'd = doc(A[0]); print(d.get("state"), "queue attempts", d.get("attempts") if not isinstance(d.get("attempts"), list) else len(d["attempts"]), "worker", d.get("worker"))' \
	"$O/status-$MARK-kill.json")
[ "$st" = succeeded ] && probe "$QOUT/$MARK-kill.mp4" 5
ok $? "the job held by the SIGKILLed worker ($holder) completes on W2 in $((SECONDS - t0)) s ($why)"

echo "== i. a model call longer than twice the lease; SIGTERM during a model call"
MPORT_W3=$(free_port)
start_worker W3 --metrics-port "$MPORT_W3"
W3=$WPID
answers '[{"like": "good", "delay_ms": 8000}]'
sub lease --wait --json
rc=$?
status_json "$MARK-lease"
n=$(pyc 'print(len(reqs(int(A[0]))))' "$SINCE")
why=$(pyc 'd = doc(A[0]); print(d.get("state"), "claims", d.get("attempts"))' "$O/status-$MARK-lease.json")
[ "$rc" -eq 0 ] && [ "$why" = "succeeded claims 1" ] && [ "$n" -eq 1 ]
ok $? "an 8 s model call with a 3 s lease and two workers: one claim, one model request (rc $rc; $why; $n requests)"
curl -s -m 5 "http://127.0.0.1:$MPORT_W3/metrics" >"$O/metrics.txt"
grep -q '^reelbox_model_attempts_total{' "$O/metrics.txt"
ok $? "W3's metrics have the model counters ($(grep -m2 '^reelbox_model_attempts_total{' "$O/metrics.txt" | tr '\n' ' '))"

answers '[{"like": "good", "delay_ms": 20000}, "good"]'
sub term
wait_request 15
ok $? "the worker asked the model for $MARK-term"
tholder=$(st_field "$MARK-term" worker)
tpid=$(pid_of_consumer "$tholder")
t0=$(now_ms)
if [ "$tpid" = "$W2" ] || [ "$tpid" = "$W3" ]; then
	stop_worker "$tpid"
	tms=$(($(now_ms) - t0))
	[ "$WRC" -eq 0 ] && [ "$tms" -lt 8000 ]
	ok $? "SIGTERM to the worker waiting on the model ($tholder): exit $WRC after $tms ms (grace 5 s)"
	wait_state "$MARK-term" 30 succeeded failed dead cancelled
	st=$(st_field "$MARK-term" state)
	[ "$st" = succeeded ] && probe "$QOUT/$MARK-term.mp4" 5
	ok $? "its job is handed back and completes on the other worker ($st, $(st_field "$MARK-term" worker))"
else
	fail "the job $MARK-term is held by W2 or W3 (worker '$tholder')"
fi
for w in "$W2" "$W3"; do
	[ "$w" = "$tpid" ] && continue
	stop_worker "$w"
	check "the last worker exits 0 on SIGTERM ($WRC)" [ "$WRC" -eq 0 ]
done
nonjson=$(cat "$LOGS"/*.log | grep -v -c '^{')
check "worker logs are JSON lines only ($nonjson other lines)" [ "$nonjson" -eq 0 ]

# ==== j. where the key is ==============================================================
echo "== j. the key: $KEY"
"${RCLI[@]}" save >/dev/null
"${RCLI[@]}" shutdown nosave >/dev/null 2>&1
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=
# Each grep is shown able to hit: the prompt (as long as the key, in the same places) is
# in the RDB, the AOF and the logs.
in_rdb=$(grep -a -c -F "$MARK)" "$T/redis/dump.rdb" 2>/dev/null)
in_aof=$(cat "$T"/redis/appendonly* "$T"/redis/appendonlydir/* 2>/dev/null | grep -a -c -F "$MARK)")
[ "${in_rdb:-0}" -ge 1 ] && [ "${in_aof:-0}" -ge 1 ]
ok $? "the RDB and the AOF are greppable: the prompt is in them ($in_rdb, $in_aof lines)"
key_rdb=$(grep -a -c -F "$KEY" "$T/redis/dump.rdb")
key_aof=$(cat "$T"/redis/appendonly* "$T"/redis/appendonlydir/* 2>/dev/null | grep -a -c -F "$KEY")
check "the key is not in the Redis RDB ($key_rdb) nor the AOF ($key_aof)" [ "$key_rdb$key_aof" = 00 ]
check "the key is not in the worker logs ($(cat "$LOGS"/*.log | wc -l) lines)" \
	bash -c '! grep -q -a -F "$1" "$2"/*.log' _ "$KEY" "$LOGS"
leaks=$(grep -r -l -a -F "$KEY" "$O" "$OUT" "$QOUT" "$T/state" 2>/dev/null | head -5 | tr '\n' ' ')
check "the key is not in any output, result, status or stderr of this test, nor any file in the output or state dirs${leaks:+: $leaks}" \
	[ -z "$leaks" ]
why=$(pyc '
bad, n_hdr = [], 0
for r in records("request"):
    h = dict((k.lower(), v) for k, v in r["headers"])
    for k, v in r["headers"]:
        if A[0] in v:
            if k.lower() in ("authorization", "x-api-key"):
                n_hdr += 1
            else:
                bad.append("header " + k)
    if A[0] in r["body"] or A[0] in r["path"]:
        bad.append("body of request %d" % r["seq"])
other = sum(1 for line in open(REC) if A[0] in line and "\"request\"" not in line)
verdict(not bad and other == 0 and n_hdr > 10, "in %d auth headers; elsewhere: %s" % (n_hdr, bad[:5] or "nowhere"))' "$KEY")
ok $? "the model server saw the key only in Authorization/x-api-key headers ($why)"
left=$(grep -r -l -a -F "$KEY" "$T" 2>/dev/null | grep -v -x -F -e "$REC" -e "$T/model.key" | head -5 | tr '\n' ' ')
check "nowhere in the test's dir but the key file and the server's record${left:+: $left}" [ -z "$left" ]

note "total $((SECONDS - T_START)) s"
finish
