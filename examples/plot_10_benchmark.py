"""
The benchmark, in a picture
===========================

The time of one Adam step on float32 arrays, fastgd's compiled backend against
torch.optim's fused Adam, from the measured table of the :doc:`performance page
</guide/performance>` (read from that page when this example runs; nothing is timed
here). Below 1 fastgd is faster. ``pytest bench/`` and ``bench/report.py`` reproduce the
table and plot it on your machine; ``fastgd bench --quick`` times a few sizes.
"""

import pathlib
import re

import matplotlib.pyplot as plt
import numpy as np

# this file's folder (the gallery runs the example from there)
HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
PAGE = HERE.parent / "docs" / "guide" / "performance.md"

UNITS = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(cell):
    number, unit = cell.split()
    return float(number) * UNITS[unit]


rows = []
for line in PAGE.read_text().splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 15 and cells[0] == "Adam" and re.fullmatch(r"1e\d", cells[2]):
        rows.append({"size": float(cells[2]), "threads": int(cells[3]),
                     "fastgd": seconds(cells[4]), "torch fused": seconds(cells[10]),
                     "streaming limit": seconds(cells[11])})
print(f"{len(rows)} measured rows read from {PAGE.name}")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
for threads, marker in ((1, "o"), (2, "s")):
    sel = [r for r in rows if r["threads"] == threads]
    sizes = np.array([r["size"] for r in sel])
    for name, color in (("fastgd", "C0"), ("torch fused", "C3"), ("streaming limit", "C2")):
        left.loglog(sizes, [r[name] / r["size"] * 1e9 for r in sel], marker=marker,
                    color=color, ls="-" if threads == 1 else "--",
                    label=f"{name}, {threads} thread{'s' * (threads > 1)}")
    right.semilogx(sizes, [r["fastgd"] / r["torch fused"] for r in sel], marker=marker,
                   label=f"{threads} thread{'s' * (threads > 1)}")
left.set(xlabel="parameters", ylabel="ns per parameter", title="Adam float32, one step")
left.legend(fontsize=8)
right.axhline(1.0, color="0.5", lw=1)
right.set(xlabel="parameters", ylabel="fastgd / torch fused", yscale="log",
          title="time ratio (below 1: fastgd faster)")
right.legend()
fig.tight_layout()
