#!/usr/bin/env bash
# it_posture_cmd.sh - `reelbox posture`: the checklist holds on this host, and says so
# when it does not.
#
# The command runs its embedded probe as a real job and judges eight points from what
# it measured (worker/posture.c, posture_judge.c). Here: on this host every point holds,
# with evidence, in the table and in --json; then two configurations that really put
# something into every job's environment (a credential, a reelbox variable, through the
# runtime table's "env") must make "secrets", and only it, fail, naming the variable,
# with exit status 1 and without printing the value; usage and a missing python3 exit 2.
#
# Env: REELBOX_BIN (build/reelbox); REELBOX_TIER=gvisor audits the gvisor tier (`posture
# --tier gvisor`: the same eight points, the facts gVisor keeps instead, the platform in
# the header; tests/it_posture_gvisor.sh). Prints one line per check; exits 1 on a failure.
set -uo pipefail

BIN=${REELBOX_BIN:-build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

die() { echo "it_posture_cmd: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no reelbox binary at $BIN (set REELBOX_BIN)"
command -v jq >/dev/null || die "jq is required"

WORK=$(mktemp -d /tmp/reelbox-posture-cmd.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT
failed=0
check() { # check NAME CONDITION-STATUS [DETAIL]
	if [ "$2" = 0 ]; then
		echo "ok    $1"
	else
		echo "FAIL  $1${3:+: $3}"
		failed=$((failed + 1))
	fi
}
TIER=${REELBOX_TIER:-native}
POSTURE=("$BIN" posture --tier "$TIER")
POINTS="isolation filesystem network secrets limits lifetime cleanup audit"
# jqt FILTER FILE: FILTER is true of FILE (jq -e alone passes an empty file)
jqt() { [ -s "$2" ] && jq -e "$1" "$2" >/dev/null 2>&1; }

# 1. The table: every point holds, each with evidence under it.
"${POSTURE[@]}" >"$WORK/table" 2>"$WORK/table.err"
rc=$?
check "posture exits 0 on this host" $([ $rc = 0 ]; echo $?) "exit $rc: $(cat "$WORK/table.err")"
for id in $POINTS; do
	grep -Eq "^  holds  $id " "$WORK/table"
	check "table: $id holds" $? "$(grep -E "^  [A-Z a-z]{5}  $id " -A1 "$WORK/table")"
done
grep -q '^8 of 8 points hold on this host\.$' "$WORK/table"
check "table: 8 of 8 points hold" $?
if [ "$TIER" = gvisor ]; then
	grep -Eq '^The sandboxing checklist, .*, tier gvisor \(runsc [^,]+, platform (ptrace|kvm|systrap)\):$' "$WORK/table"
	check "table: the header names runsc and its platform" $? "$(head -1 "$WORK/table")"
	[ "$(grep -c '^ *gvisor: ' "$WORK/table")" -ge 5 ]
	check "table: each point gVisor keeps differently says so (gvisor: ...)" $? "$(grep -c '^ *gvisor: ' "$WORK/table")"
fi
[ ! -s "$WORK/table.err" ]
check "table: nothing on stderr" $? "$(cat "$WORK/table.err")"

# 2. --json: the same verdicts, evidence non-empty, facts from inside and from the host.
"${POSTURE[@]}" --json >"$WORK/posture.json" 2>"$WORK/json.err"
rc=$?
check "posture --json exits 0" $([ $rc = 0 ]; echo $?) "exit $rc: $(cat "$WORK/json.err")"
jqt . "$WORK/posture.json"
check "--json parses" $? "$(head -c 300 "$WORK/posture.json")"
ids=$(jq -r '[.points[].id] | join(" ")' "$WORK/posture.json" 2>/dev/null)
check "--json: the eight points in order" $([ "$ids" = "$POINTS" ]; echo $?) "got: $ids"
jqt '.holds == true and ([.points[] | select(.holds != true)] | length) == 0' "$WORK/posture.json"
check "--json: every point holds" $? "$(jq -c '[.points[] | select(.holds != true) | {id, failed}]' "$WORK/posture.json")"
jqt 'all(.points[]; (.evidence | length) > 20 and (.title | length) > 0)' "$WORK/posture.json"
check "--json: every point has a title and evidence" $?
if [ "$TIER" = gvisor ]; then
	# the Sentry answers inside (Seccomp 0, its own netstack): the host's view carries it
	jqt '.tier == "gvisor" and (.facts.tier_info | test("platform")) and .facts.seccomp == "0"
		and .facts.cap.CapEff == "0000000000000000" and (.facts.fds | map(.[0])) == [0,1,2]
		and .facts.net.connect_inet != "CONNECTED" and .facts.net.connect_inet6 != "CONNECTED"
		and .facts.host.job_seen == true and .facts.host.canary_found == false
		and .facts.host.environs_read > 0 and (.facts.host.cgroups | length) > 0
		and .facts.host.after.in_namespaces == 0 and .facts.host.pid1 == "runsc-sandbox"
		and .facts.host.host_uid > 0 and .probe_ms > 0' "$WORK/posture.json"
else
	jqt '.tier == "native" and .facts.seccomp == "2" and .facts.nnp == "1"
	and .facts.cap.CapEff == "0000000000000000"
	and (.facts.fds | map(.[0])) == [0,1,2] and .facts.net.AF_INET == "EAFNOSUPPORT"
	and .facts.host.job_seen == true and .facts.host.canary_found == false
	and (.facts.host.cgroups | length) > 0 and .facts.host.after.in_namespaces == 0
	and .facts.host.pid1 == "reelbox-init" and .probe_ms > 0' "$WORK/posture.json"
fi
check "--json: facts from inside the job and from the host" $? \
	"$(jq -c '{seccomp: .facts.seccomp, nnp: .facts.nnp, net: .facts.net, host: .facts.host}' "$WORK/posture.json")"

# 3. It can fail: a runtime table that gives every python job a credential. The value
#    must not appear in what posture prints (it names the variable only).
SECRET=wJalrXUtnFEMIK7MDENGbPxRfiCYposture
cat >"$WORK/leak.json" <<EOF
{"runtimes": {"python3": {"path": "/usr/bin/python3", "extensions": [".py"],
  "env": ["PYTHONUNBUFFERED=1", "AWS_SECRET_ACCESS_KEY=$SECRET"]}}}
EOF
"${POSTURE[@]}" --config "$WORK/leak.json" >"$WORK/leak.out" 2>"$WORK/leak.err"
rc=$?
check "leaked credential: exit 1" $([ $rc = 1 ]; echo $?) "exit $rc: $(cat "$WORK/leak.err")"
grep -q '^reelbox posture: does not hold on this host: secrets (AWS_SECRET_ACCESS_KEY is set inside' "$WORK/leak.err"
check "leaked credential: stderr names the point and the variable" $? "$(cat "$WORK/leak.err")"
grep -Eq '^  FAILS  secrets ' "$WORK/leak.out" && [ "$(grep -Ec '^  holds  ' "$WORK/leak.out")" = 7 ]
check "leaked credential: secrets FAILS, the other seven hold" $? "$(grep -E '^  (holds|FAILS)' "$WORK/leak.out")"
"${POSTURE[@]}" --json --config "$WORK/leak.json" >"$WORK/leak.json.out" 2>/dev/null
jqt '.holds == false and ([.points[] | select(.holds == false) | .id] == ["secrets"])
	and (.points[3].failed | test("AWS_SECRET_ACCESS_KEY"))' "$WORK/leak.json.out"
check "leaked credential: --json says secrets does not hold" $? "$(jq -c '.points[3]' "$WORK/leak.json.out" 2>&1 | head -c 400)"
! grep -q "$SECRET" "$WORK/leak.out" "$WORK/leak.err" "$WORK/leak.json.out"
check "leaked credential: its value is printed nowhere" $?

# 4. A reelbox variable in a job's environment fails too, whatever its name says.
cat >"$WORK/reelbox-var.json" <<'EOF'
{"runtimes": {"python3": {"path": "/usr/bin/python3", "extensions": [".py"],
  "env": ["REELBOX_REDIS_URL=redis://127.0.0.1:6379"]}}}
EOF
"${POSTURE[@]}" --config "$WORK/reelbox-var.json" >/dev/null 2>"$WORK/rbvar.err"
rc=$?
check "REELBOX_* inside: exit 1 naming it" \
	$([ $rc = 1 ] && grep -q 'secrets (REELBOX_REDIS_URL is set inside' "$WORK/rbvar.err"; echo $?) \
	"exit $rc: $(cat "$WORK/rbvar.err")"

# 5. Usage and configuration errors: exit 2 with one sentence.
"${POSTURE[@]}" extra >/dev/null 2>"$WORK/usage.err"
rc=$?
check "an argument: exit 2" $([ $rc = 2 ] && grep -q 'takes no arguments' "$WORK/usage.err"; echo $?) "exit $rc: $(cat "$WORK/usage.err")"
echo '{"runtimes": {"python3": {"path": "/usr/bin/no-such-python3", "extensions": [".py"]}}}' >"$WORK/nopy.json"
"${POSTURE[@]}" --config "$WORK/nopy.json" >/dev/null 2>"$WORK/nopy.err"
rc=$?
check "no python3: exit 2 saying so" \
	$([ $rc = 2 ] && grep -q 'python3 (/usr/bin/no-such-python3) is not installed on this host' "$WORK/nopy.err"; echo $?) \
	"exit $rc: $(cat "$WORK/nopy.err")"

echo "$failed failed"
[ "$failed" = 0 ]
