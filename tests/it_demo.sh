#!/usr/bin/env bash
# it_demo.sh - `reelbox demo` end to end with the stand-in model, then its page in a browser.
#
# 1. The demo runs every recorded scenario through a private redis-server, a worker and the
#    stand-in model, and must exit 0 (every video rendered, every threat contained, every
#    checklist point holds) leaving nothing behind: no redis-server or worker of its own,
#    no temporary dir, no canary dir.
# 2. The page, opened from disk in headless Chromium over its DevTools protocol: every
#    <video> loads (readyState >= 2) with the duration its job asked for (within 0.1 s) and
#    its poster decodes; every threat row says contained; the checklist has all 8 points,
#    each holding with evidence; no console error; no request leaves file://; no model key
#    on the page. Screenshots (the first screen at 1920x1080 and the whole page) are kept in
#    $REELBOX_IT_ARTIFACTS (default: the build dir's it_demo-artifacts/).
# 3. Ctrl-C: a second demo gets SIGINT while its jobs run, exits 130 within 40 s, and
#    leaves no process, temporary dir or canary behind.
#
# Env: REELBOX_BIN (build/reelbox), REELBOX_SOURCE_DIR (.), REELBOX_IT_ARTIFACTS;
#      IT_DEMO_REUSE=DIR checks DIR/report.html in the browser only (for work on the page).
# Chromium missing: the browser part is skipped with the reason (scripts/install-deps.sh
# installs Debian's chromium).
set -uo pipefail

SRC=$(cd "${REELBOX_SOURCE_DIR:-.}" && pwd)
BIN=${REELBOX_BIN:-build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
ART=${REELBOX_IT_ARTIFACTS:-$(dirname "$BIN")/it_demo-artifacts}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)

pass=0
fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
die() { echo "it_demo: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "no reelbox binary at $BIN (set REELBOX_BIN)"
command -v redis-server >/dev/null || die "redis-server is required (scripts/install-deps.sh)"
mkdir -p "$ART" || die "cannot create $ART"

work=$(mktemp -d /tmp/it_demo.XXXXXX)
demo_pid=""
cleanup() {
	[ -n "$demo_pid" ] && kill -KILL "$demo_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# Every process under pid (its worker, redis-server, sandboxes and their scripts): what a
# stopped run must not leave behind.
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END { for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q];
			if (q == root && p != root) print p } }'
}
demo_tmpdirs() { find /tmp -maxdepth 1 -name 'reelbox-demo.*' -newer "$work/t0" 2>/dev/null; }

# ---- 1. the demo, end to end -----------------------------------------------------------
report=$work/out/report.html
if [ -n "${IT_DEMO_REUSE:-}" ]; then
	report=$IT_DEMO_REUSE/report.html
else
	touch "$work/t0"
	start=$(date +%s)
	(cd "$work" && exec "$BIN" demo --out "$work/out" --wait 240) >"$work/stdout" 2>"$work/stderr" &
	demo_pid=$!
	canary=/tmp/reelbox-demo-canary.$demo_pid
	wait "$demo_pid"
	rc=$?
	demo_pid=""
	took=$(($(date +%s) - start))
	cp "$work/stdout" "$ART/demo.stdout" 2>/dev/null
	cp "$work/stderr" "$ART/demo.stderr" 2>/dev/null
	if [ "$rc" -eq 0 ]; then
		ok "reelbox demo exited 0 in ${took}s"
	else
		bad "reelbox demo exited $rc; its output:"
		tail -n 40 "$work/stdout" "$work/stderr"
	fi
	[ -s "$report" ] && ok "it wrote report.html" || bad "no $report"
	grep -q "videos rendered: 6 of 6; threats contained: 9 of 9; checklist: 8 of 8 points hold" \
		"$work/stdout" && ok "its summary: 6 of 6 videos, 9 of 9 threats, 8 of 8 points" ||
		bad "its summary says otherwise: $(grep 'videos rendered' "$work/stdout")"
	# the checklist in the gvisor tier beside it where runsc starts, else why not
	if "$BIN" exec --tier gvisor -- /bin/true >/dev/null 2>&1; then
		grep -Eq '^checklist in the gvisor tier \(runsc [^,]+, platform [a-z]+\): 8 of 8 points hold$' \
			"$work/stdout" && grep -q 'class="gvmark ok"' "$report" &&
			ok "the gvisor tier's checklist: 8 of 8 points, on the page too" ||
			bad "the gvisor tier's checklist: $(grep 'gvisor tier' "$work/stdout")"
	else
		grep -q '^checklist in the gvisor tier: not audited: .' "$work/stdout" &&
			ok "the gvisor tier cannot start here, and the summary says why" ||
			bad "no word on the gvisor tier: $(grep 'gvisor tier' "$work/stdout")"
	fi
	grep -q "report: $work/out/report.html" "$work/stdout" && ok "it ends with the report's path" ||
		bad "the last lines do not name the report"
	[ -z "$(demo_tmpdirs)" ] && ok "its temporary dir is gone" || bad "left $(demo_tmpdirs)"
	[ ! -e "$canary" ] && ok "its canary dir is gone" || bad "left $canary"
	grep -q "$canary/do-not-delete.txt" "$report" && ok "the page names the canary it planted" ||
		bad "the page does not name $canary"
	cp "$report" "$ART/report.html" 2>/dev/null
fi

# The page as text: one file, no script, nothing from a network, no key.
if [ -s "$report" ]; then
	grep -qi "<script" "$report" && bad "the page has a script" || ok "the page has no script"
	grep -Eqi '(src|href|poster)="(https?:)?//' "$report" && bad "the page loads from a network" ||
		ok "the page links nothing on a network"
	grep -Eq 'sk-reelbox-demo-[0-9a-f]{32}' "$report" "$(dirname "$report")/worker.log" &&
		bad "a canary key is in the page or the worker's log" ||
		ok "no canary key in the page or the worker's log"
	n=$(grep -c '<video ' "$report")
	[ "$n" -eq 6 ] && ok "6 players" || bad "$n players, expected 6"
fi

# ---- 2. the page in headless Chromium --------------------------------------------------
if [ -z "$CHROMIUM" ]; then
	echo "skip the browser checks: no chromium binary (scripts/install-deps.sh installs it)"
elif [ -s "$report" ]; then
	PYTHONPATH="$SRC/tests" python3 - "$CHROMIUM" "$report" "$ART" "$work/profile" "$SRC/examples/demo/scenarios.json" \
		<<'PY' >"$work/browser" 2>&1
import base64, json, os, socket, sys, time

from cdp import attach, launch

chromium, report, art, profile, scenarios = sys.argv[1:6]
expected = {s["id"]: s["job"] for s in json.load(open(scenarios))["scenarios"]}
n_threats = sum(1 for s in json.load(open(scenarios))["scenarios"] if s["kind"] == "threat")


proc = launch(chromium, profile)
results = {}
try:
    c = attach(profile)
    for domain in ("Page", "Runtime", "Log", "Network"):
        c.call(f"{domain}.enable")
    c.call("Emulation.setDeviceMetricsOverride", width=1920, height=1080, deviceScaleFactor=1,
           mobile=False)
    c.call("Page.navigate", url="file://" + report)
    c.wait_event("Page.loadEventFired", 30)

    # What a viewer sees first: the posters, the players not yet loaded.
    results["posters"] = c.js("""Promise.all([...document.querySelectorAll('video')].map(v =>
        new Promise(done => { const i = new Image();
          i.onload = () => done(i.naturalWidth); i.onerror = () => done(0); i.src = v.poster; })))""")
    time.sleep(1)
    # The first screen as a projector shows it, then the whole page.
    shot = c.call("Page.captureScreenshot", format="png")
    open(os.path.join(art, "report-1920x1080.png"), "wb").write(base64.b64decode(shot["data"]))
    h = c.js("Math.ceil(document.documentElement.scrollHeight)")
    c.call("Emulation.setDeviceMetricsOverride", width=1920, height=min(h, 16000),
           deviceScaleFactor=1, mobile=False)
    time.sleep(0.5)
    shot = c.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    open(os.path.join(art, "report-full.png"), "wb").write(base64.b64decode(shot["data"]))
    c.call("Emulation.setDeviceMetricsOverride", width=1920, height=1080, deviceScaleFactor=1,
           mobile=False)

    # Every player: forced to load its data (preload="metadata" may stop at metadata).
    results["videos"] = c.js("""Promise.all([...document.querySelectorAll('video')].map(v =>
        new Promise(done => {
          const report = () => done({job: v.dataset.job, state: v.readyState,
            duration: v.duration, frames: +v.dataset.frames, fps: +v.dataset.fps,
            error: v.error ? v.error.code : 0, poster: v.poster});
          if (v.readyState >= 2) return report();
          v.addEventListener('loadeddata', report);
          v.addEventListener('error', report);
          setTimeout(report, 15000);
          v.preload = 'auto'; v.load();
        })))""", 40)
    results["threats"] = c.js("""[...document.querySelectorAll('table.threats tbody tr')].map(r =>
        ({id: r.dataset.threat, verdict: r.querySelector('.verdict').textContent.trim(),
          evidence: r.cells[3].innerText.trim().length}))""")
    results["points"] = c.js("""[...document.querySelectorAll('li.check')].map(p =>
        ({id: p.dataset.point, holds: !!p.querySelector('.mark.ok'),
          evidence: p.querySelector('.evidence').innerText.trim().length}))""")
    results["keys"] = c.js("""(document.documentElement.outerHTML + document.body.innerText)
        .match(/sk-reelbox-demo-[0-9a-f]{32}/g)""")
    time.sleep(0.5)  # late console messages
    c.s.settimeout(0.2)
    try:
        while True:
            c.events.append(c._message())
    except (socket.timeout, TimeoutError):
        pass
    c.s.settimeout(60)
    results["errors"] = [e["params"] for e in c.events if
                         (e.get("method") == "Runtime.exceptionThrown") or
                         (e.get("method") == "Runtime.consoleAPICalled" and
                          e["params"].get("type") == "error") or
                         (e.get("method") == "Log.entryAdded" and
                          e["params"]["entry"].get("level") == "error")]
    results["requests"] = [e["params"]["request"]["url"] for e in c.events
                           if e.get("method") == "Network.requestWillBeSent"]

finally:
    proc.kill()
    proc.wait()

fails = 0
def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond

vids = results["videos"]
check(len(vids) == len(expected) - n_threats, f"{len(vids)} players in the browser")
for v in vids:
    job = expected.get(v["job"], {})
    want = job.get("frames", 0) / job.get("fps", 1)
    check(v["state"] >= 2 and not v["error"],
          f"video {v['job']} loads (readyState {v['state']}, error {v['error']})")
    check(abs((v["duration"] or 0) - want) <= 0.1,
          f"video {v['job']} lasts {v['duration']:.3f} s, its job asked for {want:.3f} s")
check(all(w > 0 for w in results["posters"]) and results["posters"],
      f"every poster decodes (widths {results['posters']})")
th = results["threats"]
check(len(th) == n_threats, f"{len(th)} threat rows, {n_threats} scenarios")
for t in th:
    check(t["verdict"] == "contained" and t["evidence"] > 0,
          f"threat {t['id']}: {t['verdict']}, {t['evidence']} characters of evidence")
pts = results["points"]
check(len(pts) == 8, f"{len(pts)} checklist points")
for p in pts:
    check(p["holds"] and p["evidence"] > 20, f"point {p['id']} holds with evidence")
check(not results["keys"], f"no model key on the page ({results['keys']})")
check(not results["errors"], f"no console errors ({json.dumps(results['errors'])[:600]})")
outside = [u for u in results["requests"] if not u.startswith(("file:", "data:"))]
check(not outside and any(u.endswith("/report.html") for u in results["requests"]),
      f"every one of the {len(results['requests'])} requests stays on disk ({outside[:3]})")
sys.exit(1 if fails else 0)
PY
	brc=$?
	sed 's/^/  browser: /' "$work/browser"
	cp "$work/browser" "$ART/browser.txt"
	[ "$brc" -eq 0 ] && ok "the page passes every browser check" ||
		bad "the page fails browser checks (screenshots in $ART)"
	[ -s "$ART/report-full.png" ] && ok "screenshots kept in $ART" || bad "no screenshot"
fi

# ---- 3. Ctrl-C stops it cleanly --------------------------------------------------------
if [ -z "${IT_DEMO_REUSE:-}" ]; then
	touch "$work/t0"
	(cd "$work" && exec "$BIN" demo --out "$work/out2") >"$work/stdout2" 2>&1 &
	demo_pid=$!
	canary=/tmp/reelbox-demo-canary.$demo_pid
	for _ in $(seq 300); do
		grep -q running "$work/stdout2" && break
		sleep 0.1
	done
	sleep 1 # a job's sandbox is up
	kids=$(descendants "$demo_pid")
	kill -INT "$demo_pid"
	for _ in $(seq 400); do
		kill -0 "$demo_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$demo_pid" 2>/dev/null; then
		bad "the demo still runs 40 s after SIGINT"
		kill -KILL "$demo_pid"
	fi
	wait "$demo_pid"
	rc=$?
	demo_pid=""
	[ "$rc" -eq 130 ] && ok "SIGINT: it exits 130" || bad "SIGINT: exit $rc"
	left=""
	for k in $kids; do # a zombie runs nothing (and this host's pid 1 may never reap it)
		st=$(ps -o stat= -p "$k" 2>/dev/null)
		[ -n "$st" ] && [ "${st#Z}" = "$st" ] && left="$left $(ps -o pid=,ppid=,uid=,stat=,args= -p "$k")"
	done
	[ -z "$left" ] && ok "SIGINT: all $(echo $kids | wc -w) processes under it are gone (worker, redis-server, sandboxes)" ||
		bad "SIGINT: processes left:$left"
	[ -z "$(demo_tmpdirs)" ] && ok "SIGINT: its temporary dir is gone" || bad "SIGINT: left $(demo_tmpdirs)"
	[ ! -e "$canary" ] && ok "SIGINT: its canary dir is gone" || bad "SIGINT: left $canary"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
