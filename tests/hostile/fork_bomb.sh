#!/bin/sh
# Attack: the classic fork bomb, in sh: every function call forks two more, forever.
# Contained: the pids limit stops it and the job fails naming that limit, well within
# the timeout; the host checks no process of the job is left afterwards.
# Guard: it only fires as a non-root id inside child pid and user namespaces.
MARKER="@@MARKER@@"
# (the initial pid and user namespaces have fixed inode numbers)
if [ "$(id -u)" = 0 ] || [ "$(readlink /proc/self/ns/pid)" = "pid:[4026531836]" ] ||
	[ "$(readlink /proc/self/ns/user)" = "user:[4026531837]" ]; then
	echo "BREACH: refusing to fire: uid $(id -u), or in the initial pid or user namespace" >&2
	exit 97
fi
echo "fork bomb: starting as pid $$ (marker $MARKER)" >&2
bomb() { bomb | bomb & }
bomb
sleep 30
echo "fork bomb: still alive after 30 s" >&2
exit 0
