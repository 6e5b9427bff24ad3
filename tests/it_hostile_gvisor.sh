#!/usr/bin/env bash
# it_hostile_gvisor.sh - the hostile corpus in the gvisor tier (issue 17): every row through
# `reelbox run --tier gvisor`, with the same bait and the same host-side checks; where
# gVisor's Sentry answers a call the native filter kills, the manifest's gvisor column
# says what contained is there (tests/it_hostile.sh does the work). Skipped, saying why,
# where runsc cannot start a sandbox.
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
gvisor_or_skip it_hostile_gvisor
exec env REELBOX_TIER=gvisor bash "$SRC/tests/it_hostile.sh" "$@"
