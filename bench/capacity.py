#!/usr/bin/env python3
"""What one sandbox costs, measured: driven by bench/capacity.sh (see there).

usage: capacity.py HOLD_BIN REELBOX_BIN OUT_DIR PLAN

PLAN is "sh:100,sh:500,sh:1000,python:100,python:500". For each entry, HOLD_BIN (one
process, the worker's spec, bench/capacity_hold.c) starts N idle sandboxes; with all of
them ready this reads /proc/meminfo, the memory cgroups of the sandboxes, every sandbox
process's /proc/<pid>/smaps_rollup, fd and thread counts, and the holder's own; then the
holder destroys them and this checks the machine gave the memory back. Then: a running
tiny render job (`reelbox run`) sampled mid-run, and the supervisor cost of one
`reelbox exec` process per sandbox. Everything goes to OUT_DIR/capacity.csv (one row per
measure: section,kind,n,metric,value,unit) and a Markdown summary OUT_DIR/capacity.md.
"""
import glob
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HOLD, RB, OUT, PLAN = sys.argv[1:5]
ROWS = []
MEMINFO_KEYS = ("MemAvailable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
                "PageTables", "Shmem", "AnonPages")


def row(section, kind, n, metric, value, unit):
    ROWS.append((section, kind, n, metric, value, unit))


def meminfo():
    out = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":", 1)
        if k in MEMINFO_KEYS:
            out[k] = int(v.split()[0])  # kB
    return out


def slabinfo():
    out = {}
    try:
        for line in open("/proc/slabinfo").readlines()[2:]:
            f = line.split()
            out[f[0]] = int(f[2]) * int(f[3])  # num_objs * objsize: bytes
    except OSError:
        pass
    return out


def rollup(pid):
    """Rss, Pss, Pss_Anon, Pss_File, Pss_Shmem in kB; threads; fds."""
    r = {"Rss": 0, "Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "Pss_Shmem": 0}
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            k = line.split(":", 1)[0]
            if k in r:
                r[k] = int(line.split()[1])
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("Threads:"):
                r["threads"] = int(line.split()[1])
        r["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    return r


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for t in glob.glob(f"/proc/{p}/task/*/children"):
            try:
                todo += [int(x) for x in open(t).read().split()]
            except OSError:
                pass
    return out


def own_memcg():
    for line in open("/proc/self/cgroup"):
        f = line.strip().split(":", 2)
        if f[1] == "memory":
            return "/sys/fs/cgroup/memory" + f[2]
        if f[1] == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            return "/sys/fs/cgroup" + f[2]
    return None


def cg_read(path, name):
    try:
        return int(open(os.path.join(path, name)).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cgroups_of(owner_pid):
    """The memory cgroups of the sandboxes a process made: rbx-<pid>-<seq>-slot<N>[-enc]."""
    base = own_memcg()
    if not base:
        return []
    pats = [f"{base}/reelbox/rbx-{owner_pid}-*", f"{os.path.dirname(base)}/reelbox/rbx-{owner_pid}-*"]
    out = set()
    for p in pats:
        out.update(d for d in glob.glob(p) if os.path.isdir(d))
    return sorted(out)


def cg_usage(dirs):
    """Sum of memory use (and v1's kernel part) over cgroups, bytes."""
    use = kmem = 0
    for d in dirs:
        u = cg_read(d, "memory.usage_in_bytes")
        if u is None:
            u = cg_read(d, "memory.current")
        use += u or 0
        k = cg_read(d, "memory.kmem.usage_in_bytes")
        if k is None:  # v2: memory.stat's kernel line
            try:
                for line in open(os.path.join(d, "memory.stat")):
                    if line.startswith("kernel "):
                        k = int(line.split()[1])
            except OSError:
                pass
        kmem += k or 0
    return use, kmem


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)] if xs else float("nan")


def fit(points):
    """Least squares y = a + b x: (a, b, r2)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    b = sxy / sxx if sxx else float("nan")
    a = my - b * mx
    ss = sum((y - my) ** 2 for _, y in points)
    res = sum((y - a - b * x) ** 2 for x, y in points)
    return a, b, (1 - res / ss) if ss else float("nan")


def settle():
    """Let freed namespaces and cgroups go (RCU, the cgroup release worker) first."""
    time.sleep(2)


def hold(kind, n):
    print(f"  {kind} x {n}: starting", flush=True)
    settle()
    m0, s0 = meminfo(), slabinfo()
    out = os.path.join(OUT, f"hold-{kind}-{n}.txt")
    t0 = time.monotonic()
    h = subprocess.Popen([HOLD, kind, str(n), out], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = h.stdout.readline()
    if not line.startswith("ready"):
        h.wait()
        raise SystemExit(f"capacity_hold {kind} {n} failed; see {out}.stderr")
    t_ready = time.monotonic() - t0
    time.sleep(1)
    m1, s1 = meminfo(), slabinfo()
    members = [tuple(x.split()) for x in open(out)]
    tot = {"Rss": 0, "Pss": 0, "Pss_Anon": 0, "Pss_File": 0, "Pss_Shmem": 0, "threads": 0,
           "fds": 0, "procs": 0}
    for _, pid, _, _ in members:
        for p in descendants(int(pid)):
            r = rollup(p)
            if r:
                for k in r:
                    tot[k] += r[k]
                tot["procs"] += 1
    me = rollup(h.pid)
    cgs = cgroups_of(h.pid)
    use, kmem = cg_usage(cgs)
    h.stdin.write("go\n")
    h.stdin.flush()
    t1 = time.monotonic()
    h.stdout.readline()
    t_destroy = time.monotonic() - t1
    h.wait()
    settle()
    m2 = meminfo()
    create = [float(x[2]) for x in members]
    ready = [float(x[3]) for x in members]
    destroy = [float(x.split()[1]) for x in open(out + ".destroy")]
    left = cgroups_of(h.pid)
    if left:
        print(f"  warning: {len(left)} cgroups left after destroy", flush=True)

    S = "idle"
    row(S, kind, n, "sandboxes", n, "count")
    row(S, kind, n, "processes_total", tot["procs"], "count")
    row(S, kind, n, "threads_total", tot["threads"], "count")
    row(S, kind, n, "fds_inside_total", tot["fds"], "count")
    for k in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"):
        row(S, kind, n, f"{k.lower()}_total", tot[k], "KiB")
    row(S, kind, n, "holder_rss", me["Rss"], "KiB")
    row(S, kind, n, "holder_pss", me["Pss"], "KiB")
    row(S, kind, n, "holder_fds", me["fds"], "count")
    row(S, kind, n, "cgroups", len(cgs), "count")
    row(S, kind, n, "cgroup_usage_total", use // 1024, "KiB")
    row(S, kind, n, "cgroup_kmem_total", kmem // 1024, "KiB")
    for k in MEMINFO_KEYS:
        d = m1[k] - m0[k]
        row(S, kind, n, f"d_{k.lower()}", -d if k == "MemAvailable" else d, "KiB")
    row(S, kind, n, "d_memavailable_after_destroy", m0["MemAvailable"] - m2["MemAvailable"], "KiB")
    row(S, kind, n, "d_slab_after_destroy", m2["Slab"] - m0["Slab"], "KiB")
    for name, xs in (("create", create), ("ready", ready), ("destroy", destroy)):
        row(S, kind, n, f"{name}_p50", round(pct(xs, 50), 3), "ms")
        row(S, kind, n, f"{name}_p95", round(pct(xs, 95), 3), "ms")
    # Does a sandbox cost more to make or end when many are alive? The first and last
    # tenth of the run (made with few / many alive; destroyed with many / few alive).
    k = max(1, n // 10)
    row(S, kind, n, "create_first10pct_p50", round(pct(create[:k], 50), 3), "ms")
    row(S, kind, n, "create_last10pct_p50", round(pct(create[-k:], 50), 3), "ms")
    row(S, kind, n, "destroy_first10pct_p50", round(pct(destroy[:k], 50), 3), "ms")
    row(S, kind, n, "destroy_last10pct_p50", round(pct(destroy[-k:], 50), 3), "ms")
    row(S, kind, n, "all_ready_wall", round(t_ready, 3), "s")
    row(S, kind, n, "all_destroyed_wall", round(t_destroy, 3), "s")
    grown = sorted(((s1.get(k, 0) - s0.get(k, 0), k) for k in s1), reverse=True)[:8]
    for d, k in grown:
        row(S + "-slab", kind, n, k, d // 1024, "KiB")
    print(f"  {kind} x {n}: ready in {t_ready:.1f} s, Pss {tot['Pss'] / n:.0f} KiB each, "
          f"MemAvailable -{(m0['MemAvailable'] - m1['MemAvailable']) / n:.0f} KiB each, "
          f"destroyed in {t_destroy:.1f} s", flush=True)


RUN_PY = """import os, sys, time
import numpy as np
w, h, n = int(os.environ["WIDTH"]), int(os.environ["HEIGHT"]), int(os.environ["FRAMES"])
for i in range(n):
    f = np.zeros((h, w, 3), np.uint8)
    f[:, :, 0] = i * 7 % 256
    sys.stdout.buffer.write(f.tobytes())
    sys.stdout.flush()
    time.sleep(0.05)
"""


def running():
    """One tiny render job (64x48, 60 frames, numpy, paced to last ~3 s) sampled mid-run:
    its sandbox's processes, its encoder, and `reelbox run` itself (the supervisor)."""
    print("  running: a tiny render job", flush=True)
    d = tempfile.mkdtemp(dir=OUT)
    script = os.path.join(d, "tiny.py")
    open(script, "w").write(RUN_PY)
    samples = []
    for rep in range(3):
        p = subprocess.Popen([RB, "run", "--size", "64x48", "--fps", "10", "--frames", "60",
                              "-o", os.path.join(d, f"tiny{rep}.mp4"), script],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        sb = {"Rss": 0, "Pss": 0, "Pss_Anon": 0, "fds": 0, "threads": 0, "procs": 0}
        enc, srv = dict(sb), dict(sb)
        for q in descendants(p.pid)[1:]:
            r = rollup(q)
            if not r:
                continue
            try:
                comm = open(f"/proc/{q}/cmdline").read().split("\0")
            except OSError:
                continue
            if "__encoder" not in comm[:2]:
                target = sb
            else:  # the server (once per worker, root) or its confined child (the job's)
                uid = [l.split()[1] for l in open(f"/proc/{q}/status") if l.startswith("Uid:")]
                target = srv if uid and uid[0] == "0" else enc
            for k in sb:
                if k != "procs":
                    target[k] += r.get(k, 0)
            target["procs"] += 1
        me = rollup(p.pid)
        use, kmem = cg_usage([c for c in cgroups_of(p.pid) if not c.endswith("-enc")])
        euse, ekmem = cg_usage([c for c in cgroups_of(p.pid) if c.endswith("-enc")])
        rc = p.wait()
        if rc != 0 or me is None:
            raise SystemExit(f"reelbox run of the tiny job failed (exit {rc})")
        samples.append((sb, enc, srv, me, use, kmem, euse, ekmem))
    shutil.rmtree(d, ignore_errors=True)
    # the median sample by sandbox Pss
    sb, enc, srv, me, use, kmem, euse, ekmem = sorted(samples, key=lambda s: s[0]["Pss"])[1]
    S = "running"
    for k in ("procs", "threads", "fds", "Rss", "Pss", "Pss_Anon"):
        unit = "KiB" if k[0].isupper() else "count"
        row(S, "sandbox", 1, k.lower(), sb[k], unit)
        row(S, "encoder", 1, k.lower(), enc[k], unit)
        row(S, "encoder_server", 1, k.lower(), srv[k], unit)
    row(S, "sandbox", 1, "cgroup_usage", use // 1024, "KiB")
    row(S, "sandbox", 1, "cgroup_kmem", kmem // 1024, "KiB")
    row(S, "encoder", 1, "cgroup_usage", euse // 1024, "KiB")
    row(S, "encoder", 1, "cgroup_kmem", ekmem // 1024, "KiB")
    row(S, "supervisor", 1, "rss", me["Rss"], "KiB")
    row(S, "supervisor", 1, "pss", me["Pss"], "KiB")
    row(S, "supervisor", 1, "fds", me["fds"], "count")
    row(S, "supervisor", 1, "threads", me["threads"], "count")


def exec_supervisors(k=20):
    """k `reelbox exec -- /bin/sh -c 'read x'` processes, stdin held open: what one
    supervisor process per sandbox costs (the `reelbox exec` process itself)."""
    print(f"  reelbox exec x {k}: supervisor cost", flush=True)
    procs = [subprocess.Popen([RB, "exec", "--", "/bin/sh", "-c", "read x"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(k)]
    time.sleep(1.5)
    tot = {"Rss": 0, "Pss": 0, "Pss_Anon": 0, "fds": 0}
    inside = {"Rss": 0, "Pss": 0, "Pss_Anon": 0, "fds": 0}
    for p in procs:
        r = rollup(p.pid)
        for key in tot:
            tot[key] += r[key]
        for q in descendants(p.pid)[1:]:
            r = rollup(q)
            if r:
                for key in inside:
                    inside[key] += r[key]
    for p in procs:
        p.stdin.close()
    for p in procs:
        p.wait()
    for key in tot:
        unit = "count" if key == "fds" else "KiB"
        row("exec", "supervisor", k, key.lower() + "_each", round(tot[key] / k, 1), unit)
        row("exec", "inside", k, key.lower() + "_each", round(inside[key] / k, 1), unit)


def summarise():
    def get(section, kind, n, metric):
        for s, k, nn, m, v, _ in ROWS:
            if (s, k, nn, m) == (section, kind, n, metric):
                return v
        return None

    lines = [f"machine: {get('machine', 'cores', 0, 'online')} cores, "
             f"{get('machine', 'memtotal', 0, 'kib') / 1048576:.1f} GiB; load average "
             f"{get('machine', 'loadavg', 0, 'before')} before, "
             f"{get('machine', 'loadavg', 0, 'after')} after", ""]
    kinds = sorted({(k, n) for s, k, n, *_ in ROWS if s == "idle"},
                   key=lambda x: (x[0] != "sh", x[1]))
    lines.append("| idle sandboxes | N | user Pss / sandbox KiB (anon, shmem) | Rss / sandbox KiB"
                 " | MemAvailable drop / sandbox KiB | Slab / sandbox KiB (unreclaimable)"
                 " | KernelStack + PageTables / sandbox KiB | cgroup memory / sandbox KiB"
                 " (kmem) | procs, threads / sandbox | fds inside / sandbox"
                 " | holder fds / sandbox | holder Pss KiB |")
    lines.append("|" + "---|" * 12)
    for kind, n in kinds:
        g = lambda m: get("idle", kind, n, m)  # noqa: E731
        lines.append(
            f"| {kind} | {n} | {g('pss_total') / n:.0f} ({g('pss_anon_total') / n:.0f}, "
            f"{g('pss_shmem_total') / n:.0f}) | {g('rss_total') / n:.0f} | "
            f"{g('d_memavailable') / n:.0f} | {g('d_slab') / n:.0f} ({g('d_sunreclaim') / n:.0f}) | "
            f"{(g('d_kernelstack') + g('d_pagetables')) / n:.0f} | "
            f"{g('cgroup_usage_total') / n:.0f} ({g('cgroup_kmem_total') / n:.0f}) | "
            f"{g('processes_total') / n:.2g}, {g('threads_total') / n:.2g} | "
            f"{g('fds_inside_total') / n:.2g} | {g('holder_fds') / n:.2g} | {g('holder_pss')} |")
    lines.append("")
    lines.append("| idle sandboxes | N | create p50 / p95 ms | ready p50 / p95 ms | destroy p50 / p95 ms"
                 " | all N ready s | all N destroyed s | MemAvailable back after destroy"
                 " (drop left, KiB) |")
    lines.append("|" + "---|" * 8)
    for kind, n in kinds:
        g = lambda m: get("idle", kind, n, m)  # noqa: E731
        lines.append(
            f"| {kind} | {n} | {g('create_p50')} / {g('create_p95')} | {g('ready_p50')} / "
            f"{g('ready_p95')} | {g('destroy_p50')} / {g('destroy_p95')} | "
            f"{g('all_ready_wall')} | {g('all_destroyed_wall')} | "
            f"{g('d_memavailable_after_destroy')} |")
    lines.append("")
    lines.append("| idle sandboxes | N | create p50: first tenth / last tenth made, ms"
                 " | destroy p50: first tenth (most alive) / last tenth, ms |")
    lines.append("|---|---|---|---|")
    for kind, n in kinds:
        g = lambda m: get("idle", kind, n, m)  # noqa: E731
        lines.append(f"| {kind} | {n} | {g('create_first10pct_p50')} / "
                     f"{g('create_last10pct_p50')} | {g('destroy_first10pct_p50')} / "
                     f"{g('destroy_last10pct_p50')} |")
    lines.append("")
    lines.append("| growth (least squares over N) | per sandbox (slope) | fixed (intercept) | r^2 |")
    lines.append("|---|---|---|---|")
    for kind in sorted({k for k, _ in kinds}):
        ns = [n for k, n in kinds if k == kind]
        if len(ns) < 2:
            continue
        for metric, label, unit in (("d_memavailable", "MemAvailable drop", "KiB"),
                                    ("pss_total", "user Pss", "KiB"),
                                    ("d_slab", "Slab", "KiB"),
                                    ("d_sunreclaim", "SUnreclaim", "KiB"),
                                    ("cgroup_usage_total", "cgroup memory", "KiB"),
                                    ("holder_fds", "holder fds", "")):
            pts = [(n, get("idle", kind, n, metric)) for n in ns]
            a, b, r2 = fit(pts)
            lines.append(f"| {kind} {label} (N={','.join(map(str, ns))}) | {b:.1f} {unit} | "
                         f"{a:.0f} {unit} | {r2:.4f} |")
    lines.append("")
    lines.append("| a running tiny job (64x48, numpy, mid-run) | procs | threads | fds | Rss KiB"
                 " | Pss KiB | Pss anon KiB | cgroup memory KiB (kmem) |")
    lines.append("|" + "---|" * 8)
    for who in ("sandbox", "encoder"):
        g = lambda m: get("running", who, 1, m)  # noqa: E731
        lines.append(f"| {who} | {g('procs')} | {g('threads')} | {g('fds')} | {g('rss')} | "
                     f"{g('pss')} | {g('pss_anon')} | {g('cgroup_usage')} ({g('cgroup_kmem')}) |")
    g = lambda m: get("running", "encoder_server", 1, m)  # noqa: E731
    lines.append(f"| encoder server (`reelbox __encoder`, once per worker) | {g('procs')} | "
                 f"{g('threads')} | {g('fds')} | {g('rss')} | {g('pss')} | {g('pss_anon')} | - |")
    g = lambda m: get("running", "supervisor", 1, m)  # noqa: E731
    lines.append(f"| `reelbox run` itself | 1 | {g('threads')} | {g('fds')} | {g('rss')} | "
                 f"{g('pss')} | - | - |")
    lines.append("")
    ex = [r for r in ROWS if r[0] == "exec"]
    if ex:
        k = ex[0][2]
        g = lambda who, m: get("exec", who, k, m)  # noqa: E731
        lines.append(f"| one `reelbox exec` per sandbox ({k} held idle) | Rss KiB | Pss KiB "
                     "| Pss anon KiB | fds |")
        lines.append("|---|---|---|---|---|")
        for who in ("supervisor", "inside"):
            lines.append(f"| {who} | {g(who, 'rss_each')} | {g(who, 'pss_each')} | "
                         f"{g(who, 'pss_anon_each')} | {g(who, 'fds_each')} |")
        lines.append("")
    slab = [r for r in ROWS if r[0] == "idle-slab"]
    if slab:
        big = max(n for _, k, n, *_ in slab if k == "sh")
        lines.append(f"Slab caches that grew most with {big} idle sh sandboxes (KiB in all): " +
                     ", ".join(f"{m} {v}" for s, k, n, m, v, _ in slab if k == "sh" and n == big))
    return "\n".join(lines) + "\n"


def main():
    os.makedirs(OUT, exist_ok=True)
    row("machine", "loadavg", 0, "before", open("/proc/loadavg").read().split()[0], "load")
    row("machine", "cores", 0, "online", os.cpu_count(), "count")
    row("machine", "memtotal", 0, "kib", int(open("/proc/meminfo").readline().split()[1]), "KiB")
    for item in PLAN.split(","):
        kind, n = item.split(":")
        if n.endswith("?"):  # only if memory allows it safely
            n = int(n[:-1])
            prev = [(nn, v) for s, k, nn, m, v, _ in ROWS
                    if s == "idle" and k == kind and m == "d_memavailable"]
            avail = meminfo()["MemAvailable"]
            if prev:
                need = max(v / nn for nn, v in prev) * n * 1.5
                if need > avail - 4 * 1024 * 1024:
                    print(f"  {kind} x {n}: skipped, it would take about {need / 1048576:.1f} "
                          f"GiB of the {avail / 1048576:.1f} GiB available (4 GiB kept free)")
                    row("idle", kind, n, "skipped_need", int(need), "KiB")
                    continue
        hold(kind, int(n))
    running()
    exec_supervisors()
    row("machine", "loadavg", 0, "after", open("/proc/loadavg").read().split()[0], "load")
    with open(os.path.join(OUT, "capacity.csv"), "a") as f:
        for r in ROWS:
            f.write(",".join(str(x) for x in r) + "\n")
    md = summarise()
    with open(os.path.join(OUT, "capacity.md"), "a") as f:
        f.write(md)
    print()
    print(md)


main()
