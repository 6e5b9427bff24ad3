#!/usr/bin/env python3
# Attack: park the frame pipe and the log pipe in flight. After one frame the script
# sends its own stdout, stderr and both ends of an AF_UNIX SOCK_STREAM socketpair with
# SCM_RIGHTS into the pair's queue, closes every descriptor, never receives,
# and exits 0. The write ends are then held by nobody but a message in an unreachable
# socket - no process to kill - until the kernel's unix garbage collector runs, so a
# worker that waits for EOF on either pipe hangs until its timeout.
# Contained: once the sandbox's pid 1 is gone, the worker drains what is buffered, gives
# the log 250 ms and closes it: the job succeeds with its one frame within 3 s of its
# 20 s timeout (the host checks the elapsed time and the frame count).
#@include _lib.py
import array
import socket

write_frames(1)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
fds = array.array("i", [1, 2, a.fileno(), b.fileno()])
log("parking stdout, stderr and both ends of a SOCK_STREAM pair in flight, then exit 0")
try:
    a.sendmsg([b"!"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
except OSError as e:
    # nothing parked: the job is then an ordinary one-frame job
    log("sendmsg: %s (nothing parked)" % ename(e.errno))
a.close()
b.close()
os.close(1)
os.close(2)
os._exit(0)
