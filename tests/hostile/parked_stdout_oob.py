#!/usr/bin/env python3
# Attack: park the frame pipe and the log pipe in flight as out-of-band data. After one
# frame the script sends its own stdout, stderr and both ends of an AF_UNIX stream
# socketpair with SCM_RIGHTS on a MSG_OOB byte (held apart from the queue, where the
# kernel's garbage collector has had bugs finding it), closes every descriptor, never
# receives, and exits 0. A worker that waits for EOF on either pipe hangs until its
# timeout.
# Contained: once the sandbox's pid 1 is gone, the worker drains what is buffered, gives
# the log 250 ms and closes it: the job succeeds with its one frame within 3 s of its
# 20 s timeout (the host checks the elapsed time and the frame count).
#@include _lib.py
import array
import socket

write_frames(1)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
fds = array.array("i", [1, 2, a.fileno(), b.fileno()])
log("parking stdout, stderr and both ends of a stream pair in flight on a MSG_OOB byte, then exit 0")
try:
    a.sendmsg([b"!"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], socket.MSG_OOB)
except OSError as e:
    # a kernel without AF_UNIX OOB: park them in the ordinary queue instead
    log("sendmsg MSG_OOB: %s; parking in the queue" % ename(e.errno))
    try:
        a.sendmsg([b"!"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    except OSError as e2:
        log("sendmsg: %s (nothing parked)" % ename(e2.errno))
a.close()
b.close()
os.close(1)
os.close(2)
os._exit(0)
