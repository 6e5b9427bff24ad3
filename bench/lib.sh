# Shared by the bench scripts: timing and the side-by-side table.
# shellcheck shell=bash

# measure RUNS WARMUP TIMES_FILE CMD...: runs CMD (an argv, no shell) RUNS times after
# WARMUP untimed runs and writes one wall time in seconds per line to TIMES_FILE. Uses
# hyperfine when installed, a python3 loop otherwise. Fails if any run fails.
measure() {
	local runs=$1 warmup=$2 times=$3
	shift 3
	if command -v hyperfine >/dev/null; then
		local json=$times.json cmd
		cmd=$(printf '%q ' "$@")
		hyperfine -N --style none --runs "$runs" --warmup "$warmup" \
			--export-json "$json" "$cmd" >/dev/null || return 1
		python3 -c 'import json, sys
for t in json.load(open(sys.argv[1]))["results"][0]["times"]:
    print(t)' "$json" >"$times"
	else
		python3 - "$runs" "$warmup" "$times" "$@" <<'PY' || return 1
import subprocess, sys, time
runs, warmup, out, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
times = []
for i in range(warmup + runs):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    if i >= warmup:
        times.append(time.perf_counter() - t0)
open(out, "w").write("".join("%.9f\n" % t for t in times))
PY
	fi
}
