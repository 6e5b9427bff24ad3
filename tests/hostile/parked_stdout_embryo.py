#!/usr/bin/env python3
# Attack: park the frame pipe and the log pipe in an embryo. The script makes a listening
# AF_UNIX socket and connect()s a client to it that is never accept()ed; after one frame
# it sends its own stdout, stderr, the client and the listener with SCM_RIGHTS over the
# client, so the message waits on the embryo in the listener's accept queue - a place the
# kernel's garbage collector has had bugs walking. It closes every descriptor and exits 0.
# A worker that waits for EOF on either pipe hangs until its timeout.
# Contained: once the sandbox's pid 1 is gone, the worker drains what is buffered, gives
# the log 250 ms and closes it: the job succeeds with its one frame within 3 s of its
# 20 s timeout (the host checks the elapsed time and the frame count).
#@include _lib.py
import array
import socket

write_frames(1)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("")  # an autobound abstract name: no file anywhere
listener.listen(1)
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(listener.getsockname())
fds = array.array("i", [1, 2, client.fileno(), listener.fileno()])
log("parking stdout, stderr, the client and the listener in an embryo, then exit 0")
try:
    client.sendmsg([b"!"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
except OSError as e:
    log("sendmsg: %s (nothing parked)" % ename(e.errno))
client.close()
listener.close()
os.close(1)
os.close(2)
os._exit(0)
