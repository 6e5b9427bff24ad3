#!/usr/bin/env python3
# Attack: leave a daemon behind - double fork, setsid, ignore SIGHUP and SIGTERM, sleep
# for 60 s, then write a file in every writable place it can find. The script itself
# writes its frames and exits at once.
# Contained: the daemon dies with the job (pid 1 kills everything when the script exits,
# and the pid namespace ends); the host scans /proc for the run's marker afterwards.
#@include _lib.py
import signal
import subprocess

code = ("import os, signal, time, sys\n"
        "for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT): signal.signal(s, signal.SIG_IGN)\n"
        "time.sleep(60)\n"
        "open('/tmp/hostile-%s-daemon', 'w').write('daemon survived')\n" % MARKER)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execv(sys.executable, [sys.executable, "-c", code, MARKER + "-daemon"])
    os._exit(0)
os.wait()
# a second one through nohup + setsid, the shell way
subprocess.Popen(["setsid", "nohup", sys.executable, "-c", code, MARKER + "-nohup"],
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 start_new_session=True)
log("daemons started; exiting")
finish()
