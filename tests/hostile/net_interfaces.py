#!/usr/bin/env python3
# Attack: reconnaissance of the network - which interfaces, addresses and routes the job
# can see (/proc/net/dev, /proc/net/route, /proc/net/if_inet6, /sys/class/net).
# Contained: only "lo" exists and there is no route.
#@include _lib.py

ifaces = []
try:
    with open("/proc/net/dev") as f:
        ifaces = [l.split(":")[0].strip() for l in f.readlines()[2:]]
except OSError as e:
    log("/proc/net/dev: %s" % e)
log("interfaces: %s" % ifaces)
if [i for i in ifaces if i != "lo"]:
    breach("interfaces other than lo are visible: %s" % ifaces)
try:
    with open("/proc/net/route") as f:
        routes = f.readlines()[1:]
    log("ipv4 routes: %d" % len(routes))
    if routes:
        breach("ipv4 routes exist: %s" % [r.split()[:3] for r in routes][:4])
except OSError as e:
    log("/proc/net/route: %s" % e)
try:
    sysnet = os.listdir("/sys/class/net")
    log("/sys/class/net: %s" % sysnet)
    if [i for i in sysnet if i != "lo"]:
        breach("/sys/class/net shows %s" % sysnet)
except OSError as e:
    log("/sys/class/net: %s" % e)
finish()
