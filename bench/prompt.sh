#!/usr/bin/env bash
# What a prompt job costs the worker beyond the model's time and the render (issue 11).
# A private redis-server and tests/model_server.py answering every request with a good
# script after a fixed DELAY_MS (300); one worker with SLOTS (2) slots drains JOBS (20)
# tiny jobs (64x48, 10 frames), all submitted before it starts, twice:
#   baseline: the same script submitted as plain script jobs (no model);
#   prompt:   prompt jobs (one model call and one render each).
# For each: the wall time from the first claim to the last finish (Redis's clock), jobs/s,
# per job the model ms and render ms (the result's attempts; a script job's render is its
# timings.total_ms), the worker's wall overhead per job (finished - started - model_ms -
# render_ms; the median and p90), and the worker's own cpu per job (utime+stime from
# /proc/<pid>/stat when the last job ended, less what an idle worker spends starting,
# over JOBS). A prompt job's attempt may run a syntax check in a sandbox before its render
# (shells only: Python compiles the whole file at the render's start), neither model nor
# render: its time is the attempts' check_ms, shown apart (0 for these Python jobs).
# Overlap: each prompt job's model call is [its request reached the server, the answer
# was written] (the server's record, matched to the job by its prompt) and its render
# [the answer, the job's finish]; the table shows the peak number of model calls at once,
# of renders at once, and how long a render ran while another slot waited on the model.
# Targets: the worker's own overhead per prompt job under 5 ms: its cpu per job beyond the
# baseline's, and its wall overhead beyond the baseline's and the syntax check; renders
# overlap model waits. A target, not a test:
# prints PASS or MISS and exits 0 (non-zero only when a job failed).
#
# ROUNDS (3) rounds, baseline then prompt in each, so a change in the machine's load hits
# both; walls are the median round's, per-job figures are over every round's jobs.
#
# Environment: REELBOX_BIN (default build/reelbox), JOBS (20), SLOTS (2), DELAY_MS (300),
# ROUNDS (3).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
JOBS=${JOBS:-20}
SLOTS=${SLOTS:-2}
DELAY_MS=${DELAY_MS:-300}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-bprompt.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
RCLI=(redis-cli -p "$rport")
for _ in $(seq 50); do "${RCLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REELBOX_REDIS_URL=redis://127.0.0.1:$rport
export REELBOX_STATE_DIR=$TMP/state
mkdir -p "$TMP/state"

KEY=sk-bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
python3 "$SRC/tests/model_server.py" --key "$KEY" --record "$TMP/requests.jsonl" \
	--table "[{\"like\": \"good\", \"delay_ms\": $DELAY_MS}]" >"$TMP/model.port" 2>"$TMP/model.err" &
PIDS+=("$!")
mport=
for _ in $(seq 100); do
	mport=$(awk '$1 == "port" { print $2 }' "$TMP/model.port")
	[ -n "$mport" ] && break
	sleep 0.05
done
export REELBOX_MODEL_URL=http://127.0.0.1:$mport/v1 REELBOX_MODEL_NAME=test-model REELBOX_MODEL_KEY=$KEY
printf '{"result_ttl": 3600, "model": {"max_attempts": 3, "timeout": 60}}\n' >"$TMP/config.json"
# The baseline's script is the prompt jobs' answer, byte for byte.
python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import model_server; sys.stdout.write(model_server.GOOD)' \
	"$SRC/tests" >"$TMP/good.py"

# drain TAG KIND: submit JOBS jobs (KIND script|prompt), then time one worker draining them.
drain() {
	local tag=$1 kind=$2 i wpid done_n c0 c1 keys=()
	for i in $(seq 1 "$JOBS"); do
		if [ "$kind" = prompt ]; then
			"$BIN" submit --config "$TMP/config.json" --id "$tag-$i" --size 64x48 --fps 10 \
				--frames 10 --prompt "bench job $tag-$i: a colour ramp" >/dev/null
		else
			"$BIN" submit --config "$TMP/config.json" --id "$tag-$i" --size 64x48 --fps 10 \
				--frames 10 "$TMP/good.py" >/dev/null
		fi
		keys+=("reelbox:job:$tag-$i")
	done
	mkdir -p "$TMP/out-$tag"
	"$BIN" worker --concurrency "$SLOTS" --output-dir "$TMP/out-$tag" --config "$TMP/config.json" \
		2>"$TMP/worker-$tag.log" &
	wpid=$!
	PIDS+=("$wpid")
	# utime+stime: its own cpu, not its sandboxes' or encoders'; c0 is a start's.
	c0=$(cat "$TMP/idle.cpu")
	while :; do
		done_n=$("${RCLI[@]}" eval "local n = 0
			for _, k in ipairs(KEYS) do
				local s = redis.call('HGET', k, 'state')
				if s == 'succeeded' or s == 'failed' or s == 'dead' then n = n + 1 end
			end
			return n" "${#keys[@]}" "${keys[@]}")
		[ "$done_n" -ge "$JOBS" ] && break
		kill -0 "$wpid" 2>/dev/null || {
			echo "the worker for $tag died: $(tail -3 "$TMP/worker-$tag.log")" >&2
			exit 1
		}
		sleep 0.02
	done
	c1=$(awk '{ print $14 + $15 }' "/proc/$wpid/stat")
	kill -TERM "$wpid"
	wait "$wpid" || true
	echo "$c0 $c1" >"$TMP/$tag.cpu"
	: >"$TMP/$tag.jobs"
	for k in "${keys[@]}"; do
		printf '%s\t%s\t%s\t%s\n' "$("${RCLI[@]}" hget "$k" state)" "$("${RCLI[@]}" hget "$k" started)" \
			"$("${RCLI[@]}" hget "$k" finished)" "$("${RCLI[@]}" hget "$k" result)" >>"$TMP/$tag.jobs"
	done
}

# What a worker spends starting (an empty queue, 1 s).
mkdir -p "$TMP/out-idle"
"$BIN" worker --concurrency "$SLOTS" --output-dir "$TMP/out-idle" --config "$TMP/config.json" \
	2>"$TMP/worker-idle.log" &
wpid=$!
PIDS+=("$wpid")
sleep 1
awk '{ print $14 + $15 }' "/proc/$wpid/stat" >"$TMP/idle.cpu"
kill -TERM "$wpid"
wait "$wpid" || true


for r in $(seq 1 "$ROUNDS"); do
	echo "round $r: $JOBS script jobs, then $JOBS prompt jobs (the model answers after $DELAY_MS ms), $SLOTS slots"
	drain "base$r" script
	drain "prompt$r" prompt
done

python3 - "$TMP" "$JOBS" "$SLOTS" "$DELAY_MS" "$(getconf CLK_TCK)" "$ROUNDS" <<'PY'
import json, statistics, sys

tmp, jobs, slots, delay, tck, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
med = statistics.median


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def load(tag):
    rows = []
    for line in open(f"{tmp}/{tag}.jobs"):
        state, started, finished, result = line.rstrip("\n").split("\t", 3)
        res = json.loads(result) if result.startswith("{") else {}
        if state != "succeeded":
            print(f"{tag}: a job ended {state}: {res.get('error')}")
            sys.exit(1)
        rows.append({"started": int(started), "finished": int(finished), "result": res})
    return rows


def stats(kind, prompted):
    out = {"wall": [], "cpu": [], "model": [], "render": [], "over": [], "total": [], "rows": [], "check": []}
    c_idle = float(open(f"{tmp}/idle.cpu").read())
    for r in range(1, rounds + 1):
        rows = load(f"{kind}{r}")
        out["rows"].append(rows)
        out["wall"].append((max(x["finished"] for x in rows) - min(x["started"] for x in rows)) / 1000)
        _, c1 = (float(x) for x in open(f"{tmp}/{kind}{r}.cpu").read().split())
        out["cpu"].append((c1 - c_idle) / tck * 1000 / jobs)
        for x in rows:
            t = x["finished"] - x["started"]
            res = x["result"]
            if prompted:
                m = sum(a["model_ms"] for a in res["attempts"])
                d = sum(a["render_ms"] for a in res["attempts"])
                out["check"].append(sum(a.get("check_ms", 0) for a in res["attempts"]))
            else:
                m, d = 0, res["timings"]["total_ms"]
            out["model"].append(m)
            out["render"].append(d)
            out["over"].append(t - m - d)
            out["total"].append(t)
    return out


b = stats("base", False)
p = stats("prompt", True)
check = med(p["check"])  # the attempts' own syntax checks (check_ms)

# The overlap, per prompt round: each model call from the server's record (matched to
# its job by the prompt), each render from the answer to the job's finish.
calls = {}
pending = {}
for line in open(f"{tmp}/requests.jsonl"):
    r = json.loads(line)
    if r["kind"] == "request":
        text = r["body"]
        i = text.find("bench job prompt")
        if i >= 0:
            tag = text[i + len("bench job "):].split(":", 1)[0]  # prompt<round>-<n>
            pending[r["seq"]] = (tag, r["t"])
    elif r["kind"] == "answered" and r["seq"] in pending:
        tag, t0 = pending.pop(r["seq"])
        calls[tag] = (t0, r["t"])
peak_m = peak_r = 0
both = render_total = 0.0
to_ask, after = [], []  # claim -> the request at the server; answer -> finish, less the render
for rnd in range(1, rounds + 1):
    ev = []
    for n, row in enumerate(p["rows"][rnd - 1], 1):
        c = calls.get(f"prompt{rnd}-{n}")
        if not c:
            continue
        t0, t1 = c
        t2 = row["finished"] / 1000
        to_ask.append(t0 * 1000 - row["started"])
        after.append(row["finished"] - t1 * 1000 - sum(a["render_ms"] for a in row["result"]["attempts"]))
        ev += [(t0, 1, "m"), (t1, -1, "m"), (t1, 1, "r"), (t2, -1, "r")]
        render_total += max(0.0, t2 - t1)
    ev.sort(key=lambda e: (e[0], e[1]))
    nm = nr = 0
    last = ev[0][0] if ev else 0
    for t, d, k in ev:
        if nm > 0 and nr > 0:
            both += t - last
        last = t
        if k == "m":
            nm += d
            peak_m = max(peak_m, nm)
        else:
            nr += d
            peak_r = max(peak_r, nr)

rows = [("", "baseline (script jobs)", "prompt jobs", "prompt - baseline", "target", "result")]
bw, pw = med(b["wall"]), med(p["wall"])
rows.append(("total wall, first claim to last finish (median round)", "%.2f s" % bw, "%.2f s" % pw, "%+.2f s" % (pw - bw), "", ""))
rows.append(("jobs/s", "%.1f" % (jobs / bw), "%.1f" % (jobs / pw), "", "", ""))
rows.append(("per job: model ms (median)", "-", "%d" % med(p["model"]), "", "", ""))
rows.append(("per job: render ms (median)", "%d" % med(b["render"]), "%d" % med(p["render"]), "", "", ""))
rows.append(("per job: claim to finish ms (median)", "%d" % med(b["total"]), "%d" % med(p["total"]), "", "", ""))
ow = med(p["over"]) - med(b["over"])
rows.append(("per job: wall overhead ms = total - model - render (median)", "%d" % med(b["over"]), "%d" % med(p["over"]), "%+d" % ow, "", ""))
rows.append(("per job: wall overhead ms (p90)", "%d" % pct(b["over"], 90), "%d" % pct(p["over"], 90), "", "", ""))
rows.append(("  claim to the request at the model server (median)", "-", "%.1f" % med(to_ask), "", "", ""))
rows.append(("  the answer to the finish, less the render (median)", "-", "%.1f" % med(after), "", "", ""))
rows.append(("  of it, the syntax check (the attempts' check_ms, median)", "-", "%.0f" % check, "", "", ""))
rest = ow - check
rows.append(("  the rest: the worker's own wall overhead", "", "", "%+.0f" % rest, "< 5 ms", "PASS" if rest < 5 else "MISS"))
bc, pc = med(b["cpu"]), med(p["cpu"])
rows.append(("per job: worker's own cpu ms, utime+stime / jobs (median round)", "%.2f" % bc, "%.2f" % pc, "%+.2f" % (pc - bc), "< 5 ms", "PASS" if pc - bc < 5 else "MISS"))
rows.append(("peak model calls at once / renders at once", "-", "%d / %d" % (peak_m, peak_r), "", "", ""))
share = both / render_total * 100 if render_total else 0
rows.append(("rendering while another slot waited on the model", "-", "%.2f s of %.2f s (%.0f%%)" % (both, render_total, share), "", "> 0", "PASS" if both > 0 else "MISS"))
ideal = jobs * (delay + med(p["render"]) + med(b["over"]) + check) / 1000 / slots
rows.append(("prompt wall vs jobs x (model + check + render + base overhead) / slots", "", "%.2f s vs %.2f s" % (pw, ideal), "", "", ""))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
print()
print("%d rounds of %d jobs, %d slots; walls per round: baseline %s s, prompt %s s" % (
    rounds, jobs, slots, " ".join("%.2f" % w for w in b["wall"]), " ".join("%.2f" % w for w in p["wall"])))
print()
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
PY
