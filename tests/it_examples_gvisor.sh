#!/usr/bin/env bash
# it_examples_gvisor.sh - every example of examples/ rendered in the gvisor tier (issue 17),
# checked as tests/it_examples.sh checks the native tier's: codec, size, decoded frame
# count, faststart and the PSNR floor against the same script run without a sandbox.
# Skipped, saying why, where runsc cannot start a sandbox.
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
gvisor_or_skip it_examples_gvisor
exec env REELBOX_TIER=gvisor bash "$SRC/tests/it_examples.sh" "$@"
