"""Turn pytest-benchmark JSON from bench/ into a markdown table of medians and ratios.

    python bench/report.py bench/results/step.json

For each group (optimizer, dtype, parameter count) it prints the median time per step of
each implementation and the ratio of the fastest torch.optim variant to fastgd's compiled
backend (above 1: fastgd is faster).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def _format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"


def table(path: str) -> str:
    with open(path) as f:
        data = json.load(f)
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    order: dict[str, tuple] = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        groups[bench["group"]][info["impl"]] = bench["stats"]["median"]
        order[bench["group"]] = (info["optimizer"], info["n"])
    impls = sorted({impl for g in groups.values() for impl in g},
                   key=lambda s: (not s.startswith("fastgd"), s))
    head = ["optimizer", "n"] + impls + ["best torch / fastgd-cython"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group in sorted(groups, key=lambda g: order[g]):
        times = groups[group]
        label, n = order[group]
        row = [label, f"{n:.0e}".replace("e+0", "e")]
        row += [_format_time(times[i]) if i in times else "—" for i in impls]
        torch_times = [t for i, t in times.items() if i.startswith("torch")]
        if torch_times and "fastgd-cython" in times:
            row.append(f"{min(torch_times) / times['fastgd-cython']:.2f}×")
        else:
            row.append("—")
        lines.append("| " + " | ".join(row) + " |")
    machine = data.get("machine_info", {})
    lines.append("")
    lines.append(f"Medians per step, float32; {machine.get('cpu', {}).get('brand_raw', '?')}, "
                 f"{machine.get('cpu', {}).get('count', '?')} cores; "
                 f"pytest-benchmark {data.get('version', '?')}.")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(table(sys.argv[1]))
