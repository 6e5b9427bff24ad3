#!/usr/bin/python3
"""Cost against concurrency, from bench/capacity.sh's CSV: capacity_plot.py CSV PNG.

Needs matplotlib (Debian: apt-get install -y python3-matplotlib; run with /usr/bin/python3).
Left: memory in all, against the number of idle sandboxes held, with each kind's linear
fit (user Pss of the sandbox processes, kernel Slab, what MemAvailable lost). Middle: the
same per sandbox. Right: create and destroy time per sandbox, p50 and p95.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src, dst = sys.argv[1:3]
data = {}
for r in csv.DictReader(open(src)):
    if r["section"] == "idle":
        data.setdefault(r["kind"], {}).setdefault(int(r["n"]), {})[r["metric"]] = float(r["value"])

fig, ax = plt.subplots(1, 3, figsize=(16, 5))
series = (("pss_total", "user Pss", "-"), ("d_slab", "kernel Slab", "--"),
          ("d_memavailable", "MemAvailable drop", ":"))
colors = {"sh": "tab:blue", "python": "tab:orange"}
for kind, byn in sorted(data.items()):
    ns = sorted(n for n in byn if "pss_total" in byn[n])
    if not ns:
        continue
    c = colors.get(kind, None)
    for metric, label, style in series:
        ys = [byn[n][metric] / 1024 for n in ns]
        ax[0].plot(ns, ys, style, marker="o", color=c, label=f"{kind}: {label}")
        ax[1].plot(ns, [y / n * 1024 for y, n in zip(ys, ns)], style, marker="o", color=c,
                   label=f"{kind}: {label}")
    for metric, style in (("create", "-"), ("destroy", "--")):
        ax[2].plot(ns, [byn[n][metric + "_p50"] for n in ns], style, marker="o", color=c,
                   label=f"{kind}: {metric} p50")
        ax[2].plot(ns, [byn[n][metric + "_p95"] for n in ns], style, marker="^", color=c,
                   alpha=0.5, label=f"{kind}: {metric} p95")
ax[0].set(title="memory in all", xlabel="idle sandboxes held by one process", ylabel="MiB")
ax[1].set(title="memory per sandbox", xlabel="idle sandboxes held by one process",
          ylabel="KiB per sandbox", yscale="log")
ax[2].set(title="time per sandbox", xlabel="idle sandboxes held by one process", ylabel="ms")
for a in ax:
    a.grid(True, alpha=0.3)
    a.legend(fontsize=7)
fig.suptitle("reelbox: what idle sandboxes cost (bench/capacity.sh)")
fig.tight_layout()
fig.savefig(dst, dpi=100)
print(f"plot: {dst}")
