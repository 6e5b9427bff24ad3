#!/bin/sh
# Attack: the classic fork bomb, in sh: every function call forks two more, forever.
# Contained: the pids limit stops it and the job fails naming that limit, well within
# the timeout; the host checks no process of the job is left afterwards.
# Guard: it only fires as a non-root id inside a child pid namespace.
MARKER="@@MARKER@@"
if [ "$(id -u)" = 0 ] || ! grep -q '^NSpid:[[:space:]]*[0-9]*[[:space:]][0-9]' /proc/self/status; then
	echo "BREACH: refusing to fire: uid $(id -u) or no child pid namespace" >&2
	exit 97
fi
echo "fork bomb: starting as pid $$ (marker $MARKER)" >&2
bomb() { bomb | bomb & }
bomb
sleep 30
echo "fork bomb: still alive after 30 s" >&2
exit 0
