"""``fastgd demo`` (fastgd/cli/demo.py): the version and backend line, the worked
example, the batch sizes, the classic optimizers, the learning rate's effect, the
pictures."""

from __future__ import annotations

import math
import re

import pytest
from cli._commands import HAVE_MATPLOTLIB, fastgd_cmd, needs_matplotlib, ok, read_png_size

import fastgd
from fastgd import backends
from fastgd.cli.demo import CLASSIC

# ---------------------------------------------------------------- the demo

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of ``fastgd demo`` (with ``--plot`` when matplotlib is installed)."""
    folder = tmp_path_factory.mktemp("demo")
    args = ["demo"] + (["--plot", "pictures"] if HAVE_MATPLOTLIB else [])
    return ok(fastgd_cmd(*args, cwd=folder)), folder


def section(text, number):
    start = text.index(f"== {number}.")
    end = text.find(f"== {number + 1}.", start)
    return text[start:end if end >= 0 else len(text)]


def table_rows(block, first_words):
    """The rows of the aligned table in ``block`` whose first cell is one of
    ``first_words``, as lists of cells (split on runs of 2+ spaces)."""
    rows = {}
    for line in block.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] in first_words:
            rows[cells[0]] = cells
    return rows


def test_demo_prints_the_version_and_the_backend_line_ci_greps(demo):
    result, _ = demo
    lines = result.stdout.splitlines()
    assert lines[0] == f"fastgd {fastgd.__version__}"
    assert re.match(rf"^backend: {fastgd.backend()} \(.+\)", lines[1]), lines[1]
    if fastgd.backend() == "cython":
        openmp = backends.load("cython").OPENMP
        assert lines[1].endswith(f"OpenMP {'on' if openmp else 'off'}")


def test_demo_walks_the_worked_example_to_25_over_x(demo):
    text = section(demo[0].stdout, 1)
    assert "L = 452.564" in text
    assert "[4.2, 3.6, 1.5, 0.7, 0.1]" in text
    rows = [re.split(r"\s+", line.strip()) for line in text.splitlines()
            if re.match(r"^\s*\d+\s+\S+\s+-?\d+\.\d{4}", line)]
    steps = [int(r[0]) for r in rows]
    losses = [float(r[1]) for r in rows]
    assert steps[0] == 0 and losses[0] == pytest.approx(452.564)
    assert steps == sorted(steps) and len(steps) >= 6
    assert all(b < a for a, b in zip(losses, losses[1:]))  # the loss falls at every row
    assert losses[-1] < 1e-12
    assert [float(v) for v in rows[-1][2:]] == pytest.approx([25.0, 12.5, 8.3333, 6.25, 5.0],
                                                             abs=1e-4)
    # the first step, by hand: w1 = 4.2 - 0.1 * (2/5 * 1 * (4.2 - 25)) = 5.032
    assert [float(v) for v in rows[1][2:]][0] == pytest.approx(5.032, abs=1e-4)


def test_demo_compares_batch_stochastic_and_minibatch(demo):
    text = section(demo[0].stdout, 2)
    rows = table_rows(text, {"batch", "stochastic", "mini-batch"})
    assert set(rows) == {"batch", "stochastic", "mini-batch"}
    head = re.split(r"\s{2,}", next(line for line in text.splitlines()
                                     if line.startswith("flavour")).strip())
    steps, loss, r2 = (head.index(h) for h in ("steps", "final loss", "R^2"))
    n = 4000
    assert int(rows["batch"][steps]) == 100                 # one step per epoch
    assert int(rows["stochastic"][steps]) == 2 * n          # one step per row
    assert int(rows["mini-batch"][steps]) == 5 * math.ceil(n / 32)
    for cells in rows.values():
        assert 0.24 < float(cells[loss]) < 0.3              # the noise floor is 0.25
        assert float(cells[r2]) > 0.99


def test_demo_runs_the_classic_optimizers_side_by_side(demo):
    text = section(demo[0].stdout, 3)
    labels = {label for label, _, _ in CLASSIC}
    assert labels == {"SGD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AdamW",
                      "Lion"}
    rows = table_rows(text, labels)
    assert set(rows) == labels
    for cells in rows.values():
        first, final, train_acc, test_acc = map(float, cells[-5:-1])
        assert final < first                  # every optimizer made progress
        assert train_acc > 0.8 and test_acc > 0.8


def test_demo_shows_the_learning_rate_effect(demo):
    text = section(demo[0].stdout, 4)
    rows = table_rows(text, {"too small", "right", "too large"})
    assert rows["too small"][-1] == "slow"
    assert rows["right"][-1] == "converged"
    assert rows["too large"][-1] == "diverged"
    lr_max = float(re.search(r"lr < 2 / lambda_max = ([\d.]+)", text).group(1))
    assert float(rows["too large"][1]) > lr_max > float(rows["right"][1])


@needs_matplotlib
def test_demo_plot_writes_the_pictures(demo):
    _, folder = demo
    for name in ("losses", "trajectories", "lr"):
        h, w, _ = read_png_size(folder / "pictures" / f"{name}.png")
        assert h >= 300 and w >= 500
