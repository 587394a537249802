"""``fastgd fit`` and ``fastgd predict`` (fastgd/cli/fit.py): CSV, .npy and .npz data,
the model file and the metrics, a validation split; the progress bar, on a terminal
only."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from cli._commands import (
    fastgd_cmd,
    model_from_npz,
    ok,
    one_error_line,
    read_csv,
    regression_data,
    standardized,
    write_csv,
)

from fastgd import cli

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


def test_fit_with_lbfgs_on_the_full_batch(tmp_path):
    X, y = regression_data()
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    fit = ok(fastgd_cmd("fit", "data.npy", "--target", "3", "--optimizer", "lbfgs", "--lr", "1",
                        "--batch-size", "full", "--epochs", "3", "--opt",
                        "line_search_fn='strong_wolfe'", "--out", "model.npz", "--quiet",
                        cwd=tmp_path))
    model, _ = model_from_npz(tmp_path / "model.npz")
    assert model.score(X, y) > 0.99, fit.stdout
    one_error_line(fastgd_cmd("fit", "data.npy", "--target", "3", "--optimizer", "LBFGS",
                              cwd=tmp_path), 2, "needs the full batch", "--batch-size full")
