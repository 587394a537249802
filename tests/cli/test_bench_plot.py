"""``fastgd bench`` and ``fastgd plot`` (fastgd/cli/bench.py, plot.py): the benchmark's
JSON and table, torch in the comparison, and the pictures drawn from them."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from cli._commands import fastgd_cmd, needs_matplotlib, ok, read_png_size

import fastgd
from fastgd import backends, cli
from fastgd.cli.demo import trajectory_runs

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


@needs_matplotlib
def test_plot_histories(tmp_path, capsys):
    """``fastgd plot histories``: one line per history file, labelled by its 'label'."""
    for name, label, losses in (("a.json", "float32", [2.0, 1.0, 0.5]),
                                ("b.json", None, [2.0, 1.5, 1.2])):
        data = {"history": {"loss": losses, "test_accuracy": [0.1, 0.5, 0.9]}}
        if label:
            data["label"] = label
        (tmp_path / name).write_text(json.dumps(data))
    out = tmp_path / "curves.png"
    assert cli.main(["plot", "histories", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                     "-o", str(out)]) == 0
    read_png_size(out)
    assert cli.main(["plot", "histories", str(tmp_path / "a.json"), "--column",
                     "test_accuracy", "-o", str(tmp_path / "acc.svg")]) == 0
    ET.parse(tmp_path / "acc.svg")
    assert cli.main(["plot", "histories", str(tmp_path / "a.json"), "--column", "nope",
                     "-o", str(out)]) == 2
    assert "no history with a 'nope' column" in capsys.readouterr().err
