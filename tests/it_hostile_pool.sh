#!/usr/bin/env bash
# it_hostile_pool.sh - the hostile corpus's Python rows through warm sandboxes (issue 16):
# each row runs with `reelbox run --warm`, which starts a pool member (python3 with numpy
# and Pillow imported, waiting on its stdin) and hands it the script the way a worker's
# pool does (worker/pool.c). Every row must be contained exactly as it is cold, and must
# have run warm ("warm": true in run --json). Same bait, same host-side checks:
# tests/it_hostile.sh does the work.
exec env REELBOX_HOSTILE_WARM=1 bash "$(dirname "${BASH_SOURCE[0]}")/it_hostile.sh" "$@"
