#!/usr/bin/env bash
# it_container.sh - the worker image under podman with no --privileged and no added
# capability: the minimum docker/README.md documents, proven here.
#
#  a. docker/seccomp.json is what docker/seccomp-gen.py makes of Docker's default profile.
#  b. The image: docker/Dockerfile as documented (multi-stage: the build stage compiles
#     reelbox from this source tree, the final stage is Debian 12, FFmpeg's libraries,
#     the runtimes and the user reelbox, uid 10001), from a Debian base made offline with
#     debootstrap (made once, then reused). REELBOX_IT_CONTAINER_FAST=1 is a FAST PATH for
#     development: the `runtime` stage plus the host's REELBOX_BIN in one COPY (the host
#     is Debian 12 too), so the image does not compile reelbox again.
#  c. `reelbox run` of a tiny script in the container with the documented options:
#     exit 0, the video checked with ffprobe on the host through the mounted output dir;
#     podman inspect says not privileged, no capability added, none effective, the user
#     reelbox, an empty bounding set (--cap-drop=ALL, not needed, shown to work); the
#     container's own process has CapEff 0 and NoNewPrivs.
#  d. `reelbox exec -- cat /proc/self/status` in the container: the job has CapEff 0,
#     Seccomp 2, NoNewPrivs 1; `reelbox posture` there: every point holds but the limits
#     when no cgroup can hold the job (cgroup v1 here), and it says so.
#  e. The profile is needed: podman's default profile and Docker's default profile each
#     make the sandbox fail with a one-line sentence (exit 2); so does the profile
#     without each one of its added rules, one at a time; and so does leaving /proc's
#     masked paths in place (--security-opt unmask=/proc/*).
#  f. A worker in the container (--network=host, a read-only root and a tmpfs for its
#     state dir, as docker/compose.yaml has it) takes a job a producer on the host
#     submitted to a redis-server on the host, and writes its video to the mounted dir.
#
# Skipped (exit 0, saying why) when podman is missing or cannot run a container here, or
# when the base or the image cannot be built for want of Debian's archive. Needs root
# (rootful podman: the image's uid 10001 writes to a host dir).
# Env: REELBOX_BIN, REELBOX_SOURCE_DIR (from ctest); REELBOX_IT_KEEP=1 keeps the temp dir.
set -uo pipefail

SRC=$(cd "${REELBOX_SOURCE_DIR:-.}" && pwd)
BIN=${REELBOX_BIN:-build/reelbox}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
BASE_IMG=localhost/reelbox-base:bookworm
RUNTIME_IMG=localhost/reelbox-runtime:it
IMG=localhost/reelbox:it
MARK=rbxit$$
passed=0
failed=0
STARTED=$SECONDS

ok() {
	passed=$((passed + 1))
	echo "ok   $*"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $*"
}
check() { # check DESCRIPTION STATUS [DETAIL]
	if [ "$2" -eq 0 ]; then ok "$1"; else fail "$1${3:+: $3}"; fi
}
skip() {
	echo "SKIP it_container: $*"
	exit 0
}
finish() {
	echo "it_container: $((SECONDS - STARTED)) s"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps.sh installs Debian's)"
[ "$(id -u)" = 0 ] || skip "needs root: rootful podman, and a host output dir for the image's uid 10001"
podman info >/dev/null 2>&1 || skip "podman cannot run here: $(podman info 2>&1 | head -n 1)"
[ -x "$BIN" ] || {
	fail "reelbox binary at $BIN (build it first, or set REELBOX_BIN)"
	finish
}
for tool in ffprobe redis-server redis-cli python3; do
	command -v "$tool" >/dev/null || {
		fail "$tool is required"
		finish
	}
done

T=$(mktemp -d "${TMPDIR:-/tmp}/reelbox-itcontainer.XXXXXX")
REDIS_PID=
cleanup() {
	exec 2>/dev/null
	podman ps -aq --filter "name=^${MARK}_" | xargs -r podman rm -f >/dev/null
	[ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID"
	wait
	if [ "${REELBOX_IT_KEEP:-0}" = 1 ]; then echo "it_container: keeping $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

archive_reachable() {
	python3 -c 'import urllib.request as u; u.urlopen("http://deb.debian.org/debian/dists/bookworm/Release", timeout=10)' 2>/dev/null
}

# This host's quirks, not the image's needs. crun refuses a cgroup "hybrid" host (v1
# controllers beside a v2 hierarchy that holds one): runc then. Rootful podman raises
# RLIMIT_NOFILE and RLIMIT_NPROC past a hard limit a root without CAP_SYS_RESOURCE
# cannot raise: the limits are given at or below the host's.
RLIMITS=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
pick_runtime() {
	local rt
	for rt in "" runc; do
		[ -n "$rt" ] && ! command -v "$rt" >/dev/null && continue
		if podman ${rt:+--runtime "$rt"} run --rm "${RLIMITS[@]}" "$BASE_IMG" true \
			>"$T/runtime.log" 2>&1; then
			RUNTIME=$rt
			return 0
		fi
	done
	return 1
}

# --- b. the base and the image ----------------------------------------------------
if ! podman image exists "$BASE_IMG"; then
	command -v debootstrap >/dev/null ||
		skip "no $BASE_IMG and no debootstrap to make it (scripts/install-deps.sh installs it)"
	archive_reachable || skip "no $BASE_IMG, and deb.debian.org is unreachable to make it"
	echo "making $BASE_IMG with debootstrap (once; reused after)"
	debootstrap --variant=minbase bookworm "$T/rootfs" http://deb.debian.org/debian \
		>"$T/debootstrap.log" 2>&1 || {
		fail "debootstrap of bookworm: $(tail -n 1 "$T/debootstrap.log")"
		finish
	}
	tar -C "$T/rootfs" -c . | podman import - "$BASE_IMG" >/dev/null 2>>"$T/debootstrap.log"
	rm -rf "$T/rootfs"
fi
pick_runtime || skip "podman cannot start a container here, with crun or runc: $(tail -n 1 "$T/runtime.log")"
RT=(${RUNTIME:+--runtime "$RUNTIME"})
echo "podman $(podman version --format '{{.Client.Version}}'), runtime ${RUNTIME:-default}, cgroup $(podman info --format '{{.Host.CgroupsVersion}}')"

# --- a. the profile is the generator's ---------------------------------------------
python3 "$SRC/docker/seccomp-gen.py" --check
check "docker/seccomp.json is what docker/seccomp-gen.py makes of Docker's default profile" $?

t0=$SECONDS
BUILD_IMG=localhost/reelbox-build:it
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
OLD_IDS="$(image_id "$IMG") $(image_id "$BUILD_IMG") $(image_id "$RUNTIME_IMG")"
build() { # build LOGNAME podman-build-args...
	local log=$T/$1.log
	shift
	podman build "${RT[@]}" "${RLIMITS[@]}" --build-arg BASE="$BASE_IMG" "$@" >"$log" 2>&1 && return 0
	archive_reachable || skip "the image build needs deb.debian.org, unreachable: $(tail -n 1 "$log")"
	fail "podman build $*: $(tail -n 3 "$log" | tr '\n' ' ')"
	finish
}
if [ "${REELBOX_IT_CONTAINER_FAST:-0}" != 1 ]; then
	# The build stage tagged too, so that its previous image can go below.
	build build -f "$SRC/docker/Dockerfile" --target build -t "$BUILD_IMG" "$SRC"
	build image -f "$SRC/docker/Dockerfile" -t "$IMG" "$SRC"
	echo "built the documented multi-stage image in $((SECONDS - t0)) s"
else
	build runtime -f "$SRC/docker/Dockerfile" --target runtime -t "$RUNTIME_IMG" "$SRC"
	# The test-only last layer: the final stage's one COPY, from the host's build.
	mkdir -p "$T/ctx"
	cp "$BIN" "$T/ctx/reelbox"
	printf 'FROM %s\nCOPY reelbox /usr/local/bin/reelbox\n' "$RUNTIME_IMG" >"$T/ctx/Containerfile"
	build image -t "$IMG" "$T/ctx"
	echo "FAST PATH: built the runtime stage + the host's $BIN in $((SECONDS - t0)) s"
fi
# The previous run's images go (the layers they share with this run's stay, as the
# cache), so a CI machine does not gather an image per source change.
NEW_IDS=" $(image_id "$IMG") $(image_id "$BUILD_IMG") $(image_id "$RUNTIME_IMG") "
for old in $OLD_IDS; do
	[[ $NEW_IDS == *" $old "* ]] || podman rmi "$old" >/dev/null 2>&1
done

# The documented options (docker/README.md), and this host's quirks.
PROFILE=$SRC/docker/seccomp.json
# --cap-drop=ALL and no-new-privileges are not needed for the sandbox; they are there
# to show it works with nothing at all: the worker runs with an empty bounding set.
SAFE=(--security-opt "seccomp=$PROFILE" --security-opt "unmask=/proc/*" --cap-drop=ALL
	--security-opt no-new-privileges)
run_in() { # run_in NAME [podman run options...] -- reelbox args...
	local name=${MARK}_$1
	shift
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	podman "${RT[@]}" run --name "$name" "${RLIMITS[@]}" "${opts[@]}" "$IMG" "$@"
}

# --- c. a job runs ------------------------------------------------------------------
OUT=$T/out
mkdir -p "$OUT" "$T/scripts"
chown 10001:10001 "$OUT"
cat >"$T/scripts/tiny.sh" <<'EOF'
#!/bin/sh
# Gray frames that brighten: raw rgb24, WIDTH*HEIGHT*3 bytes each.
i=0
while [ "$i" -lt "$FRAMES" ]; do
	head -c $((WIDTH * HEIGHT * 3)) /dev/zero | tr '\0' "\\$(printf '%03o' $((i * 8 + 40)))"
	i=$((i + 1))
done
EOF
run_in run "${SAFE[@]}" -v "$T/scripts:/scripts:ro" -v "$OUT:/out" -- \
	run --json --size 160x120 --fps 10 --frames 12 /scripts/tiny.sh -o /out/tiny.mp4 \
	>"$T/run.json" 2>"$T/run.err"
rc=$?
check "reelbox run in the container exits 0" "$rc" "$(tail -n 3 "$T/run.err" | tr '\n' ' ')"
probe=$(ffprobe -v error -select_streams v:0 -count_frames \
	-show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$OUT/tiny.mp4" 2>&1)
[ "$probe" = "h264,160,120,12" ]
check "the video on the host is H.264 160x120 with 12 frames (ffprobe: $probe)" $?
insp=$(podman inspect "${MARK}_run" --format \
	'{{.HostConfig.Privileged}}|{{.HostConfig.CapAdd}}|{{.EffectiveCaps}}|{{.Config.User}}|{{.BoundingCaps}}')
IFS='|' read -r priv capadd eff user bnd <<<"$insp"
[ "$priv" = false ]
check "podman inspect: the container was not privileged ($priv)" $?
[ "$capadd" = "[]" ]
check "podman inspect: no capability added ($capadd)" $?
[ "$eff" = "[]" ] && [ "$user" = reelbox ]
check "podman inspect: user reelbox, no effective capability ($user, $eff)" $?
[ "$bnd" = "[]" ]
check "podman inspect: the bounding set is empty too (--cap-drop=ALL: $bnd)" $?

run_in self "${SAFE[@]}" --entrypoint /bin/sh -- -c 'id -u; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status' \
	>"$T/self.out" 2>&1
tr -s '\t\n' '  ' <"$T/self.out" | grep -q '^10001 CapEff: 0000000000000000 NoNewPrivs: 1 Seccomp: 2'
check "the container's own process: uid 10001, CapEff 0, NoNewPrivs, the profile's filter ($(tr -s '\t\n' '  ' <"$T/self.out"))" $?

# --- d. the job's view ------------------------------------------------------------
run_in exec "${SAFE[@]}" -- exec -- /bin/cat /proc/self/status >"$T/status" 2>"$T/exec.err"
rc=$?
check "reelbox exec in the container exits 0" "$rc" "$(head -n 2 "$T/exec.err" | tr '\n' ' ')"
for want in 'CapEff:	0000000000000000' 'Seccomp:	2' 'NoNewPrivs:	1'; do
	grep -qx "$want" "$T/status"
	check "the job's /proc/self/status: $want" $?
done

# The whole checklist, probed live in the container: every point holds but the limits,
# which without a cgroup for the job (cgroup v1 here, or v2 not delegated) fail, saying so.
run_in posture "${SAFE[@]}" -- posture >"$T/posture.out" 2>&1
fails=$(grep -E '^  FAILS ' "$T/posture.out" | awk '{print $2}' | tr '\n' ' ')
holds=$(grep -cE '^  holds ' "$T/posture.out")
[ "$holds" -ge 7 ] && { [ -z "$fails" ] || { [ "$fails" = "limits " ] &&
	grep -q 'no cgroup of the job was found' "$T/posture.out"; }; }
check "reelbox posture in the container: $holds points hold, failing: ${fails:-none} (a job cgroup missing, said so)" $? \
	"$(tail -n 2 "$T/posture.out" | tr '\n' ' ')"

# --- e. each part of the minimum is needed ----------------------------------------
refused() { # refused DESCRIPTION EXPECTED-PART-OF-SENTENCE NAME [options...]
	local what=$1 want=$2 name=$3 rc line
	shift 3
	run_in "$name" "$@" -- exec -- /bin/true >/dev/null 2>"$T/$name.err"
	rc=$?
	# Besides the line that states the limits at start (rlimits only: no cgroup here).
	grep -v '^reelbox exec: limits: ' "$T/$name.err" >"$T/$name.why"
	line=$(head -n 1 "$T/$name.why")
	[ "$rc" = 2 ] && [ "$(wc -l <"$T/$name.why")" = 1 ] && [[ $line == *"$want"* ]]
	check "$what: refused in one line, exit 2 ($rc: $line)" $?
}
refused "podman's default seccomp profile" "while setting the hostname" podman_default \
	--security-opt "unmask=/proc/*"
refused "Docker's default seccomp profile" "cannot create the sandbox's namespaces: Function not implemented" \
	docker_default --security-opt "seccomp=$SRC/docker/seccomp-docker-default.json" \
	--security-opt "unmask=/proc/*"
declare -A FAILS_AT=(
	[clone3]="cannot create the sandbox's namespaces"
	[mount]="sandbox setup failed while mounting"
	[mount_setattr]="sandbox setup failed while mounting /usr"
	[pivot_root]="sandbox setup failed while mounting pivot_root"
	[umount2]="sandbox setup failed while mounting"
	[sethostname]="while setting the hostname"
)
for name in $(python3 "$SRC/docker/seccomp-gen.py" --list); do
	python3 "$SRC/docker/seccomp-gen.py" --without "$name" >"$T/without-$name.json"
	refused "the profile without $name" "${FAILS_AT[$name]:-sandbox}" "no_$name" \
		--security-opt "seccomp=$T/without-$name.json" --security-opt "unmask=/proc/*"
done
refused "/proc's masked paths left in place (no unmask=/proc/*)" "while mounting proc" masked \
	--security-opt "seccomp=$PROFILE"
grep -q "in a container reelbox needs the seccomp profile docker/seccomp.json" "$T/masked.why" &&
	grep -q "docker/README.md" "$T/podman_default.why"
check "inside a container the refusal points at docker/README.md, not at the kernel's user-namespace settings" $?

# --- f. a worker in the container, Redis on the host ------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/redis" "$T/wout"
chown 10001:10001 "$T/wout"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$T/redis" --save '' --appendonly no \
	--logfile "$T/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
	[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
export REELBOX_REDIS_URL=redis://127.0.0.1:$PORT
# As docker/compose.yaml runs it: a read-only root, the state dir a tmpfs of the user's.
run_in worker -d "${SAFE[@]}" --read-only --read-only-tmpfs=false \
	--tmpfs /run/reelbox:rw,mode=0700,U --tmpfs /tmp:rw,size=64m \
	--network=host -e "REELBOX_REDIS_URL=$REELBOX_REDIS_URL" \
	-v "$T/wout:/var/lib/reelbox/out" -- worker --concurrency 1 --output-dir /var/lib/reelbox/out \
	>/dev/null
id=$("$BIN" submit --size 160x120 --fps 10 --frames 8 "$T/scripts/tiny.sh" 2>"$T/submit.err" | tail -n 1)
state=
for _ in $(seq 300); do
	state=$("$BIN" status --json "$id" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("state", ""))' 2>/dev/null)
	case $state in succeeded | failed | cancelled) break ;; esac
	sleep 0.2
done
[ "$state" = succeeded ]
check "a worker in a read-only container ran job $id from Redis on the host ($state)" $? \
	"$(podman logs "${MARK}_worker" 2>&1 | tail -n 3 | tr '\n' ' ')"
video=$(find "$T/wout" -name '*.mp4' -type f | head -n 1)
probe=$(ffprobe -v error -select_streams v:0 -count_frames \
	-show_entries stream=width,height,nb_read_frames -of csv=p=0 "$video" 2>&1)
[ "$probe" = "160,120,8" ]
check "its video on the host has 160x120 and 8 frames (ffprobe: $probe)" $?
podman stop -t 20 "${MARK}_worker" >/dev/null 2>&1
[ "$(podman inspect "${MARK}_worker" --format '{{.State.ExitCode}}')" = 0 ]
check "the worker stops on SIGTERM with exit 0" $?

finish
