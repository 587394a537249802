"""Tables of ratios and a plot from the pytest-benchmark JSON files of bench/.

    python bench/report.py bench/results/step.json bench/results/models.json \\
        [bench/results/paired.json bench/results/torch.json] [--plot bench/results/adam.png]

Prints, as markdown: the goals (ratios fastgd must reach, with the measured value; those
bench_paired.py measured step against step also as the median of paired ratios), then
for every group (optimizer, dtype, size, threads) the median time per step of each
implementation with fastgd's ratio to the best torch.optim implementation, to torch's fused
one and to the streaming limit. Below 1 means fastgd is faster. With ``--plot`` it also
draws time per element against the parameter count, one line per implementation (needs
matplotlib; the chart is ``fastgd plot bench``'s). The JSON of ``fastgd bench --json`` has
the same layout and reads here too.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from fastgd.plot import IMPL_ORDER  # the implementations, in table order

#: (label, numerator (impl, optimizer, dtype, size, threads), denominator, goal)
#: size is an element count or a model name; threads "all" means every core.
GOALS = [
    ("Adam float32, N=1e3, class step / torch fused (1 thread)",
     ("fastgd-cython", "Adam", "float32", 10**3, 1), ("torch-fused", "Adam", "float32", 10**3, 1),
     0.15),
    ("Adam float32, N=1e3, class step / torch fused (all cores)",
     ("fastgd-cython", "Adam", "float32", 10**3, "all"),
     ("torch-fused", "Adam", "float32", 10**3, "all"), 0.15),
    ("Adam float32, N=1e5 / torch fused (all cores)",
     ("fastgd-cython", "Adam", "float32", 10**5, "all"),
     ("torch-fused", "Adam", "float32", 10**5, "all"), 0.5),
    ("Adam float32, N=1e7, 1 thread / the streaming limit",
     ("fastgd-cython", "Adam", "float32", 10**7, 1),
     ("streaming-limit", "Adam", "float32", 10**7, 1), 1.15),
    ("200-tensor model step / torch fused (1 thread each)",
     ("fastgd-cython", "Adam", "float32", "200 small tensors", 1),
     ("torch-fused", "Adam", "float32", "200 small tensors", 1), 0.3),
    ("200-tensor model in a ParamBuffer / torch fused (1 thread each)",
     ("fastgd-cython-flat", "Adam", "float32", "200 small tensors", 1),
     ("torch-fused", "Adam", "float32", "200 small tensors", 1), 0.3),
    ("Adam float32, N=1e7, all cores / torch fused, all cores",
     ("fastgd-cython", "Adam", "float32", 10**7, "all"),
     ("torch-fused", "Adam", "float32", 10**7, "all"), 0.8),
    ("Numba backend / compiled, Adam float32 N=1e6 (1 thread each)",
     ("fastgd-numba", "Adam", "float32", 10**6, 1), ("fastgd-cython", "Adam", "float32", 10**6, 1),
     1.5),
]


#: (label, bench_paired.py case, goal): the same goals measured step against step.
PAIRED_GOALS = [
    ("Numba backend / compiled, Adam float32 N=1e6 (1 thread each)", "numba/cython-1e6-1", 1.5),
    ("Adam float32, N=1e7, all cores / torch fused, all cores", "cython/torch-fused-1e7-all",
     0.8),
    # bench_torch.py: fastgd.torch in a torch training loop, 1 thread each
    ("digits MLP, fastgd.torch.Adam step / torch.optim.Adam(fused=True) step",
     "torch-mlp/torch-fused", 0.3),
    ("200 tensors, fastgd.torch.Adam step / torch fused", "torch-200/torch-fused", 0.25),
    ("200 tensors, new gradient tensors each step, fastgd.torch.Adam / torch fused",
     "torch-200-new-grads/torch-fused", 0.25),
    ("200 tensors as arrays, fastgd.Adam step / torch fused", "numpy-200/torch-fused", 0.15),
    ("200 tensors as arrays, fastgd.Adam step / one streaming call over the same bytes",
     "numpy-200/streaming", 1.2),
    # bench_lowbit.py: block-quantized states against the float32 step
    ("AdamW8bit step / AdamW float32 step, N=2^24, all cores", "adamw8bit/adamw-2^24-all", 1.0),
    ("AdamW8bit step / AdamW float32 step, N=2^24, 1 thread", "adamw8bit/adamw-2^24-1", 1.5),
    ("AdamW4bit step / AdamW float32 step, N=2^24, all cores", "adamw4bit/adamw-2^24-all", 1.0),
    ("AdamW4bit step / AdamW float32 step, N=2^24, 1 thread", "adamw4bit/adamw-2^24-1", 1.5),
    ("AdamW8bit step / bitsandbytes CPU AdamW8bit step, N=2^24, all cores",
     "adamw8bit/bnb-adamw8bit-2^24-all", 0.2),
    ("AdamW8bit state bytes per parameter (not a ratio)", "bytes-adamw8bit", 2.04),
    ("AdamW4bit state bytes per parameter (not a ratio)", "bytes-adamw4bit", 1.07),
    # bench_sparse.py: 5-epoch fits on the text-like CSR workload
    ("sparse log-loss fit, batch 1, 1 thread / sklearn SGDClassifier",
     "sparse-sgd-b1-1t/sklearn", 0.5),
    ("sparse fit, batch 32, 2 threads / sklearn SGDClassifier",
     "sparse-sgd-b32-2t/sklearn", 0.3),
    ("sparse, 20 classes, one multinomial pass / sklearn one-vs-rest",
     "sparse-softmax20-1t/sklearn-ovr20", 0.15),
    ("sparse, lazy Adam batch 32 / SGD batch 32", "sparse-lazy-adam-b32/sparse-sgd-b32", 2.0),
    ("sparse, held-out accuracy shortfall vs sklearn (mean of 5 seeds), batch 1",
     "sparse-sgd-b1-accuracy/sklearn", 0.005),
    ("sparse, held-out accuracy shortfall vs sklearn (mean of 5 seeds), batch 32",
     "sparse-sgd-b32-accuracy/sklearn", 0.005),
    ("sparse, held-out accuracy shortfall vs one-vs-rest (mean of 5 seeds), 20 classes",
     "sparse-softmax20-accuracy/sklearn-ovr20", 0.005),
    ("sparse fit, peak memory beyond X and weights / X's size", "sparse-fit-extra-memory/X",
     0.1),
]


#: Paired ratios reported without a goal (label, case of bench_paired.py).
PAIRED_REPORTS = [
    ("AdamW step, 2^24 bfloat16 params and grads / float32, 1 thread", "adamw-bf16/f32-2^24-1"),
    ("AdamW step, 2^24 bfloat16 params and grads / float32, all cores",
     "adamw-bf16/f32-2^24-all"),
    ("AdamW step, 2^24 bfloat16 params, stochastic rounding / float32, all cores",
     "adamw-bf16-sr/f32-2^24-all"),
    ("AdamW8bit step / AdamW float32 step, 64 tensors of 4096, 1 thread",
     "adamw8bit/adamw-64x4096-1"),
    ("AdamW4bit step / AdamW float32 step, 64 tensors of 4096, 1 thread",
     "adamw4bit/adamw-64x4096-1"),
]


def load(paths):
    """{(impl, optimizer, dtype, size, threads): median seconds}, the machine, the largest
    thread count, Numba's first-step times (bench_numba_compile.py) if measured, and the
    paired ratios of bench_paired.py by case."""
    times, machine, max_threads, compile_times, paired = {}, {}, 1, None, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        machine = data.get("machine_info", machine)
        for bench in data["benchmarks"]:
            info = bench["extra_info"]
            if "first_step_cold_s" in info:
                compile_times = info
                continue
            if info.get("impl") == "paired":  # bench_paired.py: a ratio, not a time
                paired[info["case"]] = info
                continue
            size = info.get("model", info["n"])
            key = (info["impl"], info["optimizer"], info["dtype"], size, info["threads"])
            times[key] = bench["stats"]["median"]
            max_threads = max(max_threads, info["threads"])
    return times, machine, max_threads, compile_times, paired


def _resolve(key, max_threads):
    impl, optimizer, dtype, size, threads = key
    return (impl, optimizer, dtype, size, max_threads if threads == "all" else threads)


def _format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _size(size) -> str:
    return f"{size:.0e}".replace("e+0", "e") if isinstance(size, int) else size


def goals_table(times, max_threads, paired=None) -> str:
    lines = ["| goal | measured | target | met |", "|---|---|---|---|"]
    for label, num, den, target in GOALS:
        a, b = times.get(_resolve(num, max_threads)), times.get(_resolve(den, max_threads))
        if a is None or b is None:
            lines.append(f"| {label} | not measured | ≤ {target} | — |")
            continue
        ratio = a / b
        lines.append(f"| {label} | {ratio:.2f} ({_format_time(a)} / {_format_time(b)}) "
                     f"| ≤ {target} | {'yes' if ratio <= target else 'no'} |")
    floor = (paired or {}).get("streaming-limit/torch-fused-1e7-all")
    if floor is not None:
        lines.append(f"| (for comparison) the streaming limit, N=1e7, all cores / torch fused, "
                     f"all cores, paired | {floor['ratio']:.2f} (quartiles {floor['low']:.2f}–"
                     f"{floor['high']:.2f}) | — | — |")
    for label, case, target in PAIRED_GOALS:
        info = (paired or {}).get(case)
        if info is None:
            continue
        ratio = info["ratio"]
        d = 3 if target < 0.05 else 2  # the accuracy shortfalls: thousandths
        lines.append(f"| {label}, paired | {ratio:.{d}f} (quartiles {info['low']:.{d}f}–"
                     f"{info['high']:.{d}f}) | ≤ {target} | {'yes' if ratio <= target else 'no'} |")
    for label, case in PAIRED_REPORTS:
        info = (paired or {}).get(case)
        if info is not None:
            lines.append(f"| {label}, paired | {info['ratio']:.2f} (quartiles "
                         f"{info['low']:.2f}–{info['high']:.2f}) | — | — |")
    return "\n".join(lines)


def groups_table(times) -> str:
    groups: dict[tuple, dict[str, float]] = defaultdict(dict)
    for (impl, optimizer, dtype, size, threads), t in times.items():
        groups[(optimizer, dtype, size, threads)][impl] = t
    impls = [i for i in IMPL_ORDER if any(i in g for g in groups.values())]
    head = (["optimizer", "dtype", "size", "threads"] + impls
            + ["fastgd / best torch", "fastgd / torch fused", "fastgd / streaming"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def order(key):
        optimizer, dtype, size, threads = key
        return (optimizer, dtype, isinstance(size, str), str(size) if isinstance(size, str)
                else size, threads)

    for key in sorted(groups, key=order):
        row_times = groups[key]
        optimizer, dtype, size, threads = key
        row = [optimizer, dtype, _size(size), str(threads)]
        row += [_format_time(row_times[i]) if i in row_times else "—" for i in impls]
        ours = row_times.get("fastgd-cython")
        torch_times = [t for i, t in row_times.items() if i.startswith("torch")]
        row.append(f"{ours / min(torch_times):.2f}" if ours and torch_times else "—")
        fused = row_times.get("torch-fused")
        row.append(f"{ours / fused:.2f}" if ours and fused else "—")
        stream = row_times.get("streaming-limit")
        row.append(f"{ours / stream:.2f}" if ours and stream else "—")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(times, path, optimizer="Adam", dtype="float32"):
    """The chart of ``fastgd plot bench``: time per element against size, one line per
    implementation, one panel per thread count (fastgd.plot.bench_chart)."""
    from fastgd.plot import bench_chart

    bench_chart(times, path, optimizer=optimizer, dtype=dtype)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", help="pytest-benchmark JSON files")
    parser.add_argument("--plot", help="write a PNG of time per element against size")
    args = parser.parse_args(argv)
    times, machine, max_threads, compile_times, paired = load(args.json)
    cpu = machine.get("cpu", {})
    print(f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores; "
          f"medians of pytest-benchmark rounds.\n")
    print(goals_table(times, max_threads, paired))
    print()
    if compile_times:
        print(f"Numba, first Adam step in a fresh process: "
              f"{compile_times['first_step_cold_s']:.2f} s compiling, "
              f"{compile_times['first_step_cached_s']:.2f} s from its cache; the step "
              f"timings above exclude it (they warm up first).\n")
    print(groups_table(times))
    if args.plot:
        try:
            plot(times, args.plot)
        except ImportError:
            print("\n(no plot: matplotlib is not installed; pip install matplotlib)")
        else:
            print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
