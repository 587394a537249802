"""The ``fastgd`` command, driven as a user drives it: ``python -m fastgd ...`` in a new
process, run from a temporary folder (from a checkout's root, Python would import the
uncompiled source folder instead of the fastgd under test, so the process is given the
folder this fastgd was imported from on PYTHONPATH). A few checks of single functions
(progress bar, error lines) run in this process through ``fastgd.cli.main``."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import fastgd
from fastgd import backends, cli
from fastgd.cli.demo import CLASSIC, trajectory_runs
from fastgd.io.model_file import MODEL_FORMAT

HERE = os.path.dirname(os.path.dirname(os.path.abspath(fastgd.__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

try:
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False
needs_matplotlib = pytest.mark.skipif(not HAVE_MATPLOTLIB,
                                      reason="matplotlib is not installed")


def fastgd_cmd(*args, cwd, timeout=600):
    """``python -m fastgd ARGS`` in ``cwd`` on the active backend."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, env.get("PYTHONPATH")]))
    env["FASTGD_BACKEND"] = fastgd.backend()
    env.pop("OMP_WAIT_POLICY", None)
    return subprocess.run([sys.executable, "-m", "fastgd", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def one_error_line(result, status, *fragments):
    """The failure is one line on stderr, ``fastgd ...: error: ...``, nothing on stdout."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(r"^fastgd( \w+)*: error: ", lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def read_png_size(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    import matplotlib.image
    image = matplotlib.image.imread(path)
    return image.shape


# ---------------------------------------------------------------- data files

def regression_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, 50.0]
    y = X @ np.array([1.5, -0.5, 0.02]) + 2.0 + 0.1 * rng.standard_normal(n)
    return X, y


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                             for v in row])


def read_csv(path_or_text, from_text=False):
    f = io.StringIO(path_or_text) if from_text else open(path_or_text, newline="")
    with f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def model_from_npz(path):
    """The saved model rebuilt with fastgd's public classes (not fastgd.cli's loader)."""
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    penalty = str(arrays["penalty"])
    model = fastgd.LinearModel(str(arrays["loss"]),
                               penalty=None if penalty == "none" else penalty,
                               alpha=float(arrays["alpha"]))
    model.coef_ = arrays["coef"]
    model.intercept_ = arrays["intercept"]
    return model, arrays


def standardized(X, arrays):
    if arrays["mean"].size:
        return (X - arrays["mean"]) / arrays["scale"]
    return X


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


def test_no_command_prints_the_help_and_version(tmp_path):
    result = ok(fastgd_cmd(cwd=tmp_path))
    assert result.stdout.startswith("usage: fastgd")
    for command in ("demo", "fit", "predict", "bench", "plot"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), command
    version = ok(fastgd_cmd("--version", cwd=tmp_path))
    assert version.stdout.strip() == f"fastgd {fastgd.__version__}"


# ---------------------------------------------------------------- fit and predict

def test_fit_and_predict_csv_round_trip(tmp_path):
    X, y = regression_data()
    write_csv(tmp_path / "train.csv", ["a", "b", "c", "price"],
              [[*row, t] for row, t in zip(X, y)])
    # the new data: other column order, an extra column, no target
    write_csv(tmp_path / "new.csv", ["c", "id", "a", "b"],
              [[r[2], i, r[0], r[1]] for i, r in enumerate(X[:50])])
    fit = ok(fastgd_cmd("fit", "train.csv", "--target", "price", "--optimizer", "ADAM",
                        "--lr", "0.05", "--epochs", "30", "--standardize", "--seed", "3",
                        "--out", "model.npz", "--metrics", "metrics.json", cwd=tmp_path))
    assert "model: model.npz" in fit.stdout
    model, arrays = model_from_npz(tmp_path / "model.npz")
    assert str(arrays["kind"]) == "linear" and str(arrays["loss"]) == "squared_error"
    assert arrays["feature_names"].tolist() == ["a", "b", "c"]
    assert str(arrays["target"]) == "price" and arrays["classes"].size == 0
    np.testing.assert_allclose(arrays["mean"], X.mean(axis=0))
    pred = ok(fastgd_cmd("predict", "model.npz", "new.csv", "--out", "pred.csv", cwd=tmp_path))
    assert pred.stdout == ""
    head, rows = read_csv(tmp_path / "pred.csv")
    assert head == ["price"] and len(rows) == 50
    expected = model.predict(standardized(X[:50], arrays))
    assert [float(r[0]) for r in rows] == expected.tolist()    # exactly: repr round-trips
    assert model.score(standardized(X, arrays), y) > 0.99

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["fit"]["optimizer"] == "Adam" and metrics["fit"]["seed"] == 3
    assert metrics["data"]["rows"] == 300
    assert metrics["data"]["feature_names"] == ["a", "b", "c"]
    result, history = metrics["result"], metrics["history"]
    assert result["epochs"] == 30 == len(history["loss"]) == len(history["lr"])
    assert result["steps"] == 30 * math.ceil(300 / 32)
    assert result["train_r2"] == pytest.approx(model.score(standardized(X, arrays), y))
    assert result["train_loss"] == pytest.approx(
        model.loss_value(standardized(X, arrays), y))
    assert result["val_loss"] is None
    assert history["loss"][-1] < history["loss"][0]

    # the same seed gives the same model, bit for bit
    ok(fastgd_cmd("fit", "train.csv", "--target", "3", "--optimizer", "adam", "--lr", "0.05",
                  "--epochs", "30", "--standardize", "--seed", "3", "--out", "again.npz",
                  "--quiet", cwd=tmp_path))
    _, again = model_from_npz(tmp_path / "again.npz")
    assert again["coef"].tobytes() == arrays["coef"].tobytes()

    # CSV on stdout without --out
    printed = ok(fastgd_cmd("predict", "model.npz", "new.csv", cwd=tmp_path))
    assert read_csv(printed.stdout, from_text=True)[1] == rows


def test_fit_and_predict_npy(tmp_path):
    X, y = regression_data(seed=1)
    table = np.column_stack([y, X])             # the target first
    np.save(tmp_path / "data.npy", table)
    ok(fastgd_cmd("fit", "data.npy", "--target", "0", "--batch-size", "full", "--lr", "0.1",
                  "--opt", "momentum=0.9", "--opt", "nesterov=true", "--epochs", "100",
                  "--standardize", "--out", "m.npz", "--metrics", "m.json", cwd=tmp_path))
    fit = json.loads((tmp_path / "m.json").read_text())["fit"]
    assert fit["optimizer_options"] == {"momentum": 0.9, "nesterov": True}
    assert fit["batch_size"] is None
    model, arrays = model_from_npz(tmp_path / "m.npz")
    assert arrays["feature_names"].tolist() == ["x1", "x2", "x3"]
    expected = model.predict(standardized(X, arrays))
    # the training array itself (its target column is dropped) and the features alone
    np.save(tmp_path / "features.npy", X)
    for data in ("data.npy", "features.npy"):
        ok(fastgd_cmd("predict", "m.npz", data, "--out", "p.npy", cwd=tmp_path))
        np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)
    assert model.score(standardized(X, arrays), y) > 0.99


def test_fit_softmax_on_npz_with_text_labels_and_probabilities(tmp_path):
    rng = np.random.default_rng(2)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    k = rng.integers(0, 3, 400)
    X = centres[k] + 0.7 * rng.standard_normal((400, 2))
    names = np.array(["setosa", "versicolor", "virginica"])
    np.savez(tmp_path / "iris.npz", features=X, species=names[k],
             feature_names=np.array(["length", "width"]))
    ok(fastgd_cmd("fit", "iris.npz", "--x-key", "features", "--y-key", "species",
                  "--model", "softmax", "--optimizer", "rmsprop", "--lr", "0.05",
                  "--epochs", "20", "--seed", "0", "--out", "m.npz",
                  "--metrics", "m.json", cwd=tmp_path))
    model, arrays = model_from_npz(tmp_path / "m.npz")
    assert arrays["classes"].tolist() == names.tolist()
    assert arrays["feature_names"].tolist() == ["length", "width"]
    model.n_classes_ = 3
    out = ok(fastgd_cmd("predict", "m.npz", "iris.npz", "--x-key", "features", "--proba",
                        cwd=tmp_path))
    head, rows = read_csv(out.stdout, from_text=True)
    assert head == ["species", "p_setosa", "p_versicolor", "p_virginica"]
    assert [r[0] for r in rows] == names[model.predict(X)].tolist()
    proba = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(np.array([r[0] for r in rows]) == names[k]) > 0.9
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["model"]["classes"] == names.tolist()
    assert metrics["result"]["train_accuracy"] > 0.9


def test_fit_logistic_with_a_validation_split(tmp_path):
    X, _ = regression_data(n=400, seed=4)
    labels = np.where(X[:, 0] + 0.1 * X[:, 1] > 0.5, "yes", "no")
    write_csv(tmp_path / "cls.csv", ["answer", "a", "b", "c"],
              [[t, *row] for t, row in zip(labels, X)])
    ok(fastgd_cmd("fit", "cls.csv", "--target", "answer", "--model", "logistic",
                  "--optimizer", "adam", "--lr", "0.05", "--epochs", "40", "--standardize",
                  "--val-fraction", "0.25", "--seed", "7", "--metrics", "m.json",
                  "--out", "m.npz", cwd=tmp_path))
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["data"]["val_rows"] == 100 and metrics["data"]["train_rows"] == 300
    assert len(metrics["history"]["val_loss"]) == metrics["result"]["epochs"]
    assert metrics["result"]["val_accuracy"] > 0.9
    assert metrics["model"]["classes"] == ["no", "yes"]
    model, arrays = model_from_npz(tmp_path / "m.npz")
    # the validation rows are fit's: the first draw of default_rng(seed) (fastgd.training)
    perm = np.random.default_rng(7).permutation(400)
    val = np.sort(perm[:100])
    Xs = standardized(X, arrays)
    accuracy = np.mean(arrays["classes"][model.predict(Xs[val])] == labels[val])
    assert metrics["result"]["val_accuracy"] == pytest.approx(accuracy)


# ---------------------------------------------------------------- bench and plot

@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    """``fastgd bench --json`` (torch left out: importing it in a new process is slow;
    :func:`test_bench_compares_with_torch` runs it in this one)."""
    folder = tmp_path_factory.mktemp("bench")
    result = ok(fastgd_cmd("bench", "--quick", "--sizes", "1e3,1e4", "--repeats", "3",
                           "--no-torch", "--json", cwd=folder))
    (folder / "bench.json").write_text(result.stdout)
    return json.loads(result.stdout), folder


def test_bench_json_lists_every_backend(bench_json):
    data, _ = bench_json
    impls = {b["extra_info"]["impl"] for b in data["benchmarks"]}
    assert impls == {f"fastgd-{b}" for b in backends.available()}
    for bench in data["benchmarks"]:
        info, stats = bench["extra_info"], bench["stats"]
        assert info["optimizer"] == "Adam" and info["dtype"] == "float32"
        assert info["n"] in (1000, 10000) and info["threads"] == 1
        assert stats["rounds"] == 3 and 0 < stats["min"] <= stats["median"] < 1.0
    assert len(data["benchmarks"]) == 2 * len(impls)
    assert data["fastgd"]["version"] == fastgd.__version__
    assert data["machine_info"]["cpu"]["count"] == os.cpu_count()
    from fastgd import plot
    assert len(plot.bench_times(data)) == len(data["benchmarks"])


def test_bench_compares_with_torch(capsys):
    torch = pytest.importorskip("torch")
    assert cli.main(["bench", "--sizes", "100", "--repeats", "1", "--optimizer", "SGD",
                     "--dtype", "float64", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    impls = {b["extra_info"]["impl"] for b in data["benchmarks"]}
    assert {"torch-for-loop", "torch-foreach", "torch-fused"} <= impls
    assert {b["extra_info"]["optimizer"] for b in data["benchmarks"]} == {"SGD-momentum"}
    assert data["fastgd"]["torch"] == torch.__version__


def test_bench_prints_a_table(capsys):
    assert cli.main(["bench", "--sizes", "100,2000", "--repeats", "2", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Adam float32, one step on one array; median of 2 rounds; "
                          "1 thread(s)")
    head = next(line for line in out.splitlines() if line.startswith("size"))
    assert head.split() == ["size"] + [f"fastgd-{b}" for b in backends.available()]
    assert re.search(r"^1e2\s+\d", out, re.M) and re.search(r"^2e3\s+\d", out, re.M)


@needs_matplotlib
def test_plot_writes_the_pictures(bench_json):
    _, folder = bench_json
    ok(fastgd_cmd("plot", "all", "--out", "pictures", "--bench", "bench.json",
                  "--epochs", "3", "--steps", "50", cwd=folder))
    for name in ("losses", "trajectories", "lr", "bench"):
        h, w, _ = read_png_size(folder / "pictures" / f"{name}.png")
        assert h >= 300 and w >= 500


@needs_matplotlib
def test_plot_svg_and_default_names(bench_json, capsys, monkeypatch):
    _, folder = bench_json
    monkeypatch.chdir(folder)
    assert cli.main(["plot", "trajectories", "--function", "himmelblau", "--steps", "30",
                     "--format", "svg", "-o", "paths.svg"]) == 0
    assert ET.parse(folder / "paths.svg").getroot().tag.endswith("svg")
    assert cli.main(["plot", "bench", "bench.json"]) == 0       # default name: bench.png
    assert capsys.readouterr().out.split() == ["paths.svg", "bench.png"]
    read_png_size(folder / "bench.png")


@needs_matplotlib
def test_plot_functions_in_process(tmp_path):
    from fastgd import plot
    paths = trajectory_runs("saddle", steps=20)
    assert all(p.shape == (21, 2) for p in paths.values())
    assert plot.trajectories(fastgd.functions.saddle, paths, tmp_path / "s.svg") == "svg"
    ET.parse(tmp_path / "s.svg")
    assert plot.loss_curves({"a": [3.0, 2.0, 1.0], "b": [3.0, float("inf")]},
                            tmp_path / "l") == "png"
    read_png_size(tmp_path / "l")
    with pytest.raises(ValueError, match="no Adam float64"):
        plot.bench_chart({("fastgd-cython", "Adam", "float32", 1000, 1): 1e-5},
                         tmp_path / "b.png", dtype="float64")


# ---------------------------------------------------------------- errors

def test_error_paths_in_a_real_process(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    one_error_line(fastgd_cmd("fit", "bad.csv", "--target", "a", cwd=tmp_path), 2,
                   "bad.csv, line 3, column 'b': 'x' is not a finite number")
    one_error_line(fastgd_cmd("fit", "missing.csv", "--target", "a", cwd=tmp_path), 2,
                   "missing.csv: no such file")
    one_error_line(fastgd_cmd("fit", "bad.csv", "--lr", "fast", cwd=tmp_path), 2,
                   "argument --lr")
    one_error_line(fastgd_cmd("frobnicate", cwd=tmp_path), 2, "invalid choice")
    X, y = regression_data()
    np.save(tmp_path / "big.npy", np.column_stack([X * 1e3, y]))
    one_error_line(fastgd_cmd("fit", "big.npy", "--target", "-1", "--lr", "1", cwd=tmp_path),
                   1, "diverged", "--standardize")


def error_cases(tmp):
    """(arguments, exit status, a fragment of the message)."""
    X, y = regression_data(n=40)
    write_csv(tmp / "d.csv", ["a", "b", "c", "t"], [[*r, v] for r, v in zip(X, y)])
    write_csv(tmp / "lab.csv", ["a", "b", "c", "t"],
              [[*r, "yes" if v > 0 else "no"] for r, v in zip(X, y)])
    (tmp / "empty.csv").write_text("")
    (tmp / "header.csv").write_text("a,b\n")
    (tmp / "ragged.csv").write_text("a,b\n1,2\n3\n")
    (tmp / "dup.csv").write_text("a,a\n1,2\n")
    (tmp / "nan.csv").write_text("a,b\n1,nan\n")
    (tmp / "blank.csv").write_text("a,b\n1,\n")
    (tmp / "latin.csv").write_bytes(b"a,b\n1,\xe9\n")
    (tmp / "notnpy.npy").write_text("hello")
    (tmp / "bench.json").write_text('{"x": 1}')
    (tmp / "broken.json").write_text("{")
    np.save(tmp / "one.npy", np.ones(5))
    np.save(tmp / "two.npy", np.ones((5, 2)))
    np.save(tmp / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp / "xy.npz", X=np.ones((5, 2)), y=np.ones(4))
    np.savez(tmp / "notmodel.npz", X=np.ones((5, 2)))
    np.savez(tmp / "tampered.npz", format=np.array(MODEL_FORMAT), kind=np.array("softmax"),
             loss=np.array("softmax_cross_entropy"), penalty=np.array("none"),
             alpha=np.array(0.0), l1_ratio=np.array(0.15), coef=np.zeros((3, 4)),
             intercept=np.zeros(4), classes=np.array(["a", "b"]),
             feature_names=np.array(["a", "b", "c"]), target=np.array("t"),
             mean=np.zeros(0), scale=np.zeros(0))
    return [
        (["fit", "d.csv"], 2, "--target is required"),
        (["fit", "d.csv", "--target", "price"], 2,
         "no such column in d.csv (columns: a, b, c, t)"),
        (["fit", "d.csv", "--target", "9"], 2, "no such column"),
        (["fit", "empty.csv", "--target", "a"], 2, "the file is empty"),
        (["fit", "header.csv", "--target", "a"], 2, "no data rows"),
        (["fit", "ragged.csv", "--target", "a"], 2, "line 3: 1 fields, the header has 2"),
        (["fit", "dup.csv", "--target", "a"], 2, "names column 'a' twice"),
        (["fit", "nan.csv", "--target", "a"], 2, "'nan' is not a finite number"),
        (["fit", "blank.csv", "--target", "a"], 2, "an empty field is not a finite number"),
        (["fit", "latin.csv", "--target", "a"], 2, "not a UTF-8 text file"),
        (["fit", "d.xlsx", "--target", "a"], 2, "unknown data format .xlsx"),
        (["fit", ".", "--target", "a"], 2, "unknown data format"),
        (["fit", "notnpy.npy", "--target", "0"], 2, "not a readable NumPy file"),
        (["fit", "objects.npy", "--target", "0"], 2, "not a readable NumPy file"),
        (["fit", "one.npy", "--target", "0"], 2, "must be a 2-D array"),
        (["fit", "two.npy", "--target", "b"], 2, "give the target column's index"),
        (["fit", "two.npy", "--target", "5"], 2, "has 2 columns"),
        (["fit", "xy.npz"], 2, "one value per row"),
        (["fit", "xy.npz", "--target", "0"], 2, "--target is for CSV and .npy files"),
        (["fit", "xy.npz", "--y-key", "labels"], 2, "has no array 'labels' (arrays: X, y)"),
        (["fit", "lab.csv", "--target", "t"], 2, "a linear model needs numbers"),
        (["fit", "d.csv", "--target", "t", "--model", "logistic"], 2, "exactly 2 classes"),
        (["fit", "d.csv", "--target", "t", "--model", "svm"], 2, "argument --model"),
        (["fit", "d.csv", "--target", "t", "--loss", "hinge"], 2,
         "--loss 'hinge' does not go with --model linear"),
        (["fit", "d.csv", "--target", "t", "--optimizer", "adamm"], 2,
         "unknown optimizer 'adamm'"),
        (["fit", "d.csv", "--target", "t", "--lr", "0"], 2,
         "argument --lr: must be a finite number > 0"),
        (["fit", "d.csv", "--target", "t", "--lr", "nan"], 2, "argument --lr"),
        (["fit", "d.csv", "--target", "t", "--opt", "momentum"], 2, "argument --opt"),
        (["fit", "d.csv", "--target", "t", "--opt", "foo=1"], 2,
         "--opt foo=...: SGD has no argument 'foo'"),
        (["fit", "d.csv", "--target", "t", "--opt", "momentum=-1"], 2,
         "Invalid momentum value: -1"),
        (["fit", "d.csv", "--target", "t", "--opt", "lr=1"], 2, "give the learning rate as --lr"),
        (["fit", "d.csv", "--target", "t", "--batch-size", "-3"], 2, "argument --batch-size"),
        (["fit", "d.csv", "--target", "t", "--epochs", "1.5"], 2, "argument --epochs"),
        (["fit", "d.csv", "--target", "t", "--seed", "-1"], 2, "argument --seed"),
        (["fit", "d.csv", "--target", "t", "--val-fraction", "1"], 2,
         "argument --val-fraction"),
        (["fit", "d.csv", "--target", "t", "--alpha", "0.1"], 2, "needs a --penalty"),
        (["fit", "d.csv", "--target", "t", "--schedule", "optimal"], 2,
         "--schedule optimal needs a --penalty"),
        (["fit", "d.csv", "--target", "t", "--schedule", "warm"], 2, "argument --schedule"),
        (["fit", "d.csv", "--target", "t", "--out", "m.pkl"], 2, "must end with .npz"),
        (["fit", "d.csv", "--target", "t", "--out", "no/such/m.npz"], 2, "does not exist"),
        (["fit", "d.csv", "--target", "t", "--metrics", "m.txt"], 2, "must end with .json"),
        (["fit", "d.csv", "--target", "t", "--lr", "10", "--epochs", "100"], 1,
         "training diverged; try --standardize or a lower --lr (it is 10)"),
        (["predict", "d.csv", "d.csv"], 2, "a model file is an .npz"),
        (["predict", "missing.npz", "d.csv"], 2, "missing.npz: no such file"),
        (["predict", "notmodel.npz", "d.csv"], 2, "not a fastgd model"),
        (["predict", "tampered.npz", "d.csv"], 2, "its classes (2)"),
        (["predict", "--proba"], 2, "the following arguments are required"),
        (["bench", "--sizes", "1e3,x"], 2, "argument --sizes"),
        (["bench", "--sizes", "0"], 2, "argument --sizes"),
        (["bench", "--json", "out.txt"], 2, "must end with .json"),
        (["bench", "--optimizer", "Lion"], 2, "argument --optimizer"),
        (["plot"], 2, "required: WHAT"),
        (["plot", "pie"], 2, "argument WHAT: invalid choice"),
        (["plot", "lr", "-o", "lr.jpg"], 2, "use .png or .svg"),
        (["plot", "lr", "-o", "lr.png", "--format", "svg"], 2,
         "the suffix .png but the format is svg"),
        (["plot", "bench", "missing.json"], 2, "missing.json: no such file"),
        (["plot", "bench", "broken.json"], 2, "not readable JSON"),
        (["plot", "bench", "bench.json"], 2, "not benchmark JSON"),
        (["plot", "trajectories", "--function", "sphere"], 2, "argument --function"),
        (["demo", "--plot", "d.csv"], 2, "is a file; give a folder"),
        (["demo", "--backend", "jax"], 2, "argument --backend: invalid choice"),
        (["demo", "--verbose"], 2, "unrecognized arguments: --verbose"),
    ]


def test_every_error_is_one_line_with_its_exit_status(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, status, fragment in error_cases(tmp_path):
        assert cli.main(args) == status, args
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, (args, captured.err)
        assert re.match(r"^fastgd( \w+)*: error: ", lines[0]), (args, lines[0])
        assert fragment in lines[0], (args, lines[0])
        assert captured.out == "", (args, captured.out)


def test_predict_refuses_data_that_does_not_fit_the_model(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = regression_data(n=60)
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "t"], [[*r, v] for r, v in zip(X, y)])
    assert cli.main(["fit", "d.csv", "--target", "t", "--standardize", "--out", "m.npz",
                     "--quiet"]) == 0
    write_csv(tmp_path / "less.csv", ["a", "b"], X[:, :2])
    np.save(tmp_path / "wide.npy", np.ones((3, 7)))
    capsys.readouterr()
    for args, fragment in [
            (["predict", "m.npz", "less.csv"], "lacks the model's feature column(s) 'c'"),
            (["predict", "m.npz", "wide.npy"], "7 feature columns, the model has 3"),
            (["predict", "m.npz", "d.csv", "--proba"], "--proba is for classifiers"),
            (["predict", "m.npz", "d.csv", "--out", "p.txt"], "must end with .csv or .npy")]:
        assert cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], (args, err)


def test_a_missing_matplotlib_is_one_line_with_the_install_command(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)   # import fails as if not installed
    for args in (["plot", "lr"], ["demo", "--plot", "pics", "--quiet"]):
        assert cli.main(args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and 'pip install "fastgd[plot]"' in err[0], err
    assert not (tmp_path / "lr.png").exists()


# ---------------------------------------------------------------- progress

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_on_a_terminal_only():
    term = _Terminal()
    with cli.Progress(3, "epochs", stream=term, use_tqdm=False) as bar:
        bar.update(1, "loss 2")
        bar.update(2, "loss 1")
    text = term.getvalue()
    assert "\repochs: 1/3  loss 2" in text and "\repochs: 3/3  loss 1" in text
    assert text.endswith("\r")                         # the line is cleared at the end
    for stream, enabled in ((io.StringIO(), True), (_Terminal(), False)):
        with cli.Progress(3, "epochs", stream=stream, enabled=enabled) as bar:
            bar.update(3, "loss 1")
        assert stream.getvalue() == ""


def test_fit_is_silent_on_stderr_when_not_a_terminal(tmp_path):
    X, y = regression_data(n=50)
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "t"], [[*r, v] for r, v in zip(X, y)])
    result = ok(fastgd_cmd("fit", "d.csv", "--target", "t", "--standardize", "--epochs", "3",
                           cwd=tmp_path))
    assert result.stderr == ""
    quiet = ok(fastgd_cmd("fit", "d.csv", "--target", "t", "--standardize", "--quiet",
                          cwd=tmp_path))
    assert quiet.stdout == "" and quiet.stderr == ""
