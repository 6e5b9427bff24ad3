#!/usr/bin/env bash
# The frame pipe's size: the kernel's 64 KiB default against the 1 MiB reelbox sets with
# F_SETPIPE_SZ, for 1280x720 rgb24 frames read the way render/stream.c reads them.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp /tmp/pipe_size.XXXXXX)
trap 'rm -f "$out"' EXIT
cc -O2 -o "$out" pipe_size.c
"$out" "${FRAMES:-600}"
