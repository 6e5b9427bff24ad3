#!/bin/sh
# Installs everything reelbox needs to build, test and render on Debian 12.
# Idempotent; run as root.
set -eu
export DEBIAN_FRONTEND=noninteractive
# chromium: tests/it_demo.sh opens the demo's page in it, headless.
# libssl-dev: the webhook's HMAC (worker/delivery.c) and Redis over TLS (queue/tls.c);
# openssl: tests/it_tls.sh makes its CA and certificates; python3-boto3: tests/it_delivery.sh
# presigns its upload URLs (the S3 server, s3rver, comes from npm into the build dir).
# python3-yaml, systemd (systemd-analyze), util-linux (unshare, nsenter, setpriv):
# tests/it_deploy.sh (its Kubernetes and Compose schemas come from npm into the build dir).
# podman, runc, debootstrap: tests/it_container.sh builds the image (docker/) from a
# Debian base it makes offline and runs it without --privileged (runc where crun refuses
# the host's cgroups); uidmap: newuidmap for per-slot uids of a non-root worker.
# runsc: gVisor, the gvisor tier's runtime (tests run both tiers; --tier gvisor).
# libpython3.11: the warm pool's zygote loads it (worker/zygote.c); python3's own binary
# does not ship the shared library.
PKGS="build-essential cmake pkg-config git
 libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev
 libuv1-dev libseccomp-dev libhiredis-dev libjansson-dev libcmocka-dev libmicrohttpd-dev
 libcurl4-openssl-dev libssl-dev openssl
 ffmpeg redis-server redis-tools
 python3 libpython3.11 python3-numpy python3-pil python3-redis python3-boto3 python3-yaml fonts-dejavu-core
 systemd util-linux
 lua5.4 nodejs jq procps bubblewrap hyperfine clang-format
 clang libclang-rt-14-dev
 chromium
 podman runc debootstrap uidmap
 runsc"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	apt-get install -y -qq $missing >/dev/null
fi
# npm: tests/it_delivery.sh installs s3rver with it. Debian's nodejs comes without npm (its
# own package); a nodejs from elsewhere (NodeSource) brings its own, which Debian's npm
# would conflict with, so it is installed only when the command is missing.
if ! command -v npm >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq npm >/dev/null
fi
