#!/usr/bin/env bash
# it_posture_gvisor.sh - the posture suites in the gvisor tier (issue 17): the posture job
# through `run --tier gvisor` and `exec --tier gvisor` (tests/it_posture.sh, whose GVISOR
# table says which rows gVisor answers differently and what is checked instead), and
# `reelbox posture --tier gvisor` (tests/it_posture_cmd.sh). Skipped, saying why, where
# runsc cannot start a sandbox.
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
need jq
gvisor_or_skip it_posture_gvisor
export REELBOX_TIER=gvisor
check "it_posture.sh via run, tier gvisor" bash "$SRC/tests/it_posture.sh"
check "it_posture.sh via exec, tier gvisor" bash "$SRC/tests/it_posture.sh" --via exec
check "it_posture_cmd.sh, tier gvisor" bash "$SRC/tests/it_posture_cmd.sh"
finish
