"""The ``fastgd`` command (fastgd/cli/__init__.py): the help without a command, and every
error of every command, one line with its exit status, in a real process and in this
one."""

from __future__ import annotations

import re
import sys

import numpy as np
from cli._commands import fastgd_cmd, ok, one_error_line, regression_data, write_csv

import fastgd
from fastgd import cli
from fastgd.io.model_file import MODEL_FORMAT


def test_no_command_prints_the_help_and_version(tmp_path):
    result = ok(fastgd_cmd(cwd=tmp_path))
    assert result.stdout.startswith("usage: fastgd")
    for command in ("demo", "fit", "predict", "bench", "plot"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), command
    version = ok(fastgd_cmd("--version", cwd=tmp_path))
    assert version.stdout.strip() == f"fastgd {fastgd.__version__}"


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
