#!/usr/bin/env python3
# Attack: allocate and touch memory until something gives (1 GiB in 8 MiB chunks; the
# job runs with --memory 64). Without a cgroup limit this pushes the host into swap or
# its own OOM killer, which may pick the worker or redis.
# Contained: the memory limit stops it and the job fails naming that limit; the host
# checks the bait redis-server is still alive.
#@include _lib.py

if safe_to_fire():
    chunks = []
    try:
        for i in range(128):
            chunks.append(bytearray(b"\x5a" * (8 << 20)))
            if i % 16 == 0:
                log("allocated %d MiB" % ((i + 1) * 8))
    except MemoryError:
        log("MemoryError after %d MiB" % (len(chunks) * 8))
        chunks = None
        finish()
    breach("allocated %d MiB with a 64 MB limit" % (len(chunks) * 8))
finish()
