"""Accuracy of low-precision parameters on real data: a 64-64-10 MLP on scikit-learn's
digits (fastgd.mlp), trained by each configuration below over several seeds.

    python bench/bench_lowp_accuracy.py                      # 5 seeds, 30 epochs
    python bench/bench_lowp_accuracy.py --seeds 2 --epochs 5 --out /tmp/lowp

prints the final test accuracy (mean ± standard deviation over the seeds) per
configuration, writes each configuration's mean curves per epoch as a history file
(``OUT/<name>.json``: ``loss``, ``test_loss``, ``test_accuracy``, and every seed's run)
and draws them with ``fastgd plot histories`` (``OUT/loss.png``, ``OUT/accuracy.png``;
needs matplotlib). The seed sets the initial weights and the order of the batches; the
train/test split is the same for all runs. An optimizer of another kind is compared by
adding one line to CONFIGS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np

import fastgd
from fastgd import mlp


def configs():
    """label -> (optimizer class, its keyword arguments, the parameters' dtype)."""
    import ml_dtypes

    bf16 = ml_dtypes.bfloat16
    return {
        "AdamW float32": (fastgd.AdamW, dict(lr=1e-3), np.float32),
        "AdamW bfloat16, stochastic rounding": (
            fastgd.AdamW, dict(lr=1e-3, stochastic_rounding=True), bf16),
        "AdamW bfloat16, round to nearest": (fastgd.AdamW, dict(lr=1e-3), bf16),
        "AdamW float16, round to nearest": (fastgd.AdamW, dict(lr=1e-3), np.float16),
        "AdamW8bit (64x64 layer quantized)": (fastgd.AdamW8bit, dict(lr=1e-3), np.float32),
        "AdamW4bit (64x64 layer quantized)": (fastgd.AdamW4bit, dict(lr=1e-3), np.float32),
        "AdamW8bit, every tensor quantized": (
            fastgd.AdamW8bit, dict(lr=1e-3, min_quantized_size=0), np.float32),
        "AdamW4bit, every tensor quantized": (
            fastgd.AdamW4bit, dict(lr=1e-3, min_quantized_size=0), np.float32),
    }


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def run(seeds: int, epochs: int, out: str) -> list[tuple[str, list[float], float, float]]:
    data = mlp.load_digits_split()
    rows = []
    os.makedirs(out, exist_ok=True)
    for label, (cls, kwargs, dtype) in configs().items():
        runs, started = [], time.perf_counter()
        for seed in range(seeds):
            kw = dict(kwargs)
            if kw.get("stochastic_rounding"):
                kw["seed"] = seed
            result = mlp.train(cls, data, kw, param_dtype=dtype, epochs=epochs, seed=seed)
            runs.append(result.history.as_dict())
        seconds = (time.perf_counter() - started) / seeds
        mean = {column: np.mean([r[column] for r in runs], axis=0).tolist()
                for column in ("loss", "test_loss", "test_accuracy")}
        final = [100 * r["test_accuracy"][-1] for r in runs]
        with open(os.path.join(out, f"{_slug(label)}.json"), "w", encoding="utf-8") as f:
            json.dump({"label": label, "history": mean, "runs": runs,
                       "seeds": list(range(seeds)), "epochs": epochs,
                       "backend": fastgd.backend()}, f, indent=1)
        rows.append((label, final, mean["loss"][-1], seconds))
    return rows


def table(rows) -> str:
    lines = ["| configuration | test accuracy, % (mean ± std) | per seed | final train loss "
             "| s per run |", "|---|---|---|---|---|"]
    for label, final, loss, seconds in rows:
        lines.append(f"| {label} | {np.mean(final):.2f} ± {np.std(final):.2f} | "
                     f"{', '.join(f'{a:.1f}' for a in final)} | {loss:.4f} | {seconds:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=os.path.join("bench", "results", "lowp-accuracy"))
    args = parser.parse_args(argv)
    rows = run(args.seeds, args.epochs, args.out)
    print(f"digits, MLP 64-64-10, {args.epochs} epochs, batches of 32, {args.seeds} seeds, "
          f"backend {fastgd.backend()}")
    print(table(rows))
    files = [os.path.join(args.out, f"{_slug(label)}.json") for label, *_ in rows]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: no pictures", file=sys.stderr)
        return 0
    from fastgd import cli

    for column, name in (("loss", "loss.png"), ("test_accuracy", "accuracy.png")):
        cli.main(["plot", "histories", *files, "--column", column,
                  "-o", os.path.join(args.out, name)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
