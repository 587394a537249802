"""``fastgd fit --chunk-rows``: the file streamed in chunks (never read whole) through
PartialFit gives the model of the same chunks fed in memory; svmlight and sparse .npz
files (as CSR); errors as one line naming the file and line."""

import io
import sys

import numpy as np
import pytest
from cli._commands import fastgd_cmd, model_from_npz, ok, one_error_line, write_csv

import fastgd
from fastgd import cli
from fastgd.io import chunks
from fastgd.models import PartialFit


def _regression(n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ np.linspace(-1, 2, d) + 0.5 + 0.05 * rng.standard_normal(n)


def _by_hand(model, parts, epochs, seed, **kw):
    """PartialFit over ``parts`` (X, y) for ``epochs`` passes, as the command runs it."""
    run = PartialFit(model, random_state=np.random.default_rng(seed), carry_over=True, **kw)
    for _ in range(epochs):
        for X, y in parts:
            run.partial_fit(X, y)
        run.end_epoch()
    return run


def test_streamed_npy_equals_partial_fit_in_memory(tmp_path, capsys):
    X, y = _regression()
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    out = tmp_path / "m.npz"
    assert cli.main(["fit", str(tmp_path / "d.npy"), "--target", "-1", "--chunk-rows", "64",
                     "--epochs", "3", "--optimizer", "adam", "--lr", "0.02",
                     "--schedule", "invscaling", "--seed", "5", "--batch-size", "16",
                     "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "streamed in 5 chunks of 64 rows" in stdout and "3 epochs" in stdout
    saved, _ = model_from_npz(out)
    model = fastgd.LinearRegression()
    parts = [(X[a:a + 64], y[a:a + 64]) for a in range(0, 300, 64)]
    run = _by_hand(model, parts, 3, 5, optimizer="Adam", lr=0.02, batch_size=16,
                   schedule="invscaling")
    np.testing.assert_array_equal(saved.coef_, model.coef_)
    np.testing.assert_array_equal(saved.intercept_, model.intercept_)
    assert run.n_steps == 3 * (4 * 4 + 3)


def test_streamed_csv_softmax_with_text_labels_and_metrics(tmp_path):
    X, y = _regression(n=150, d=3)
    labels = np.array(["lo", "mid", "hi"])[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    write_csv(tmp_path / "d.csv", ["a", "b", "kind", "c"],
              [[r[0], r[1], t, r[2]] for r, t in zip(X, labels)])
    out, metrics = tmp_path / "m.npz", tmp_path / "m.json"
    result = ok(fastgd_cmd("fit", tmp_path / "d.csv", "--target", "kind", "--model",
                           "softmax", "--chunk-rows", 40, "--epochs", 4, "--lr", 0.1,
                           "--seed", 2, "--out", out, "--metrics", metrics, "--quiet",
                           cwd="/"))
    assert result.stdout == "" and result.stderr == ""
    saved, arrays = model_from_npz(out)
    assert list(arrays["classes"]) == ["hi", "lo", "mid"]
    assert list(arrays["feature_names"]) == ["a", "b", "c"]
    codes = np.searchsorted(np.array(["hi", "lo", "mid"]), labels)
    model = fastgd.SoftmaxRegression()
    model.coef_, model.intercept_ = np.zeros((3, 3)), np.zeros(3)
    parts = [(X[a:a + 40], codes[a:a + 40]) for a in range(0, 150, 40)]
    _by_hand(model, parts, 4, 2, optimizer="SGD", lr=0.1, batch_size=32)
    np.testing.assert_array_equal(saved.coef_, model.coef_)
    import json
    m = json.loads(metrics.read_text())
    assert m["data"]["chunks"] == 4 and m["result"]["epochs"] == 4
    assert m["result"]["train_accuracy"] == pytest.approx(np.mean(model.predict(X) == codes))
    assert len(m["history"]["loss"]) == 4


def test_streaming_reads_chunks_never_the_whole_file(tmp_path, monkeypatch, capsys):
    X, y = _regression(n=250)
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    sizes, loads = [], []
    real_iter, real_load = chunks.iter_chunks, np.load

    def spy_iter(*args, **kw):
        for X, y in real_iter(*args, **kw):
            sizes.append(X.shape[0])
            yield X, y

    def spy_load(*args, **kw):
        loads.append(kw.get("mmap_mode"))
        return real_load(*args, **kw)
    monkeypatch.setattr(chunks, "iter_chunks", spy_iter)
    monkeypatch.setattr(np, "load", spy_load)

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert cli.main(["fit", str(tmp_path / "d.npy"), "--target", "-1", "--chunk-rows",
                     "100", "--epochs", "2", "--seed", "0"]) == 0
    # the first pass, 2 epochs and the final loss/score pass (R²: one more)
    assert sizes == [100, 100, 50] * 5
    assert set(loads) == {"r"}                     # always a memory map
    assert "chunks" in term.getvalue()             # the progress bar counts chunks
    assert "streamed in 3 chunks" in capsys.readouterr().out


def _error(capsys, *argv):
    """``fastgd fit ARGV`` in this process: status 2 and one error line; returns it."""
    assert cli.main(["fit", *map(str, argv)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("fastgd fit: error: ")
    return lines[0]


def test_streaming_refuses_whole_file_options(tmp_path, capsys):
    X, y = _regression(n=20)
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    for option in (["--val-fraction", "0.2"], ["--standardize"]):
        assert f"{option[0]} needs the whole file" in _error(
            capsys, tmp_path / "d.npy", "--target", "-1", "--chunk-rows", 8, *option)


def test_bad_svmlight_line_is_one_error_naming_file_and_line(tmp_path, capsys):
    path = tmp_path / "d.svm"
    path.write_text("1 1:0.5 3:2\n0 2:1\n1 3:1 2:4\n")
    for extra in ([], ["--chunk-rows", "2"]):
        assert f"{path}, line 3: index 2 after 3" in _error(capsys, path, *extra)
    path.write_text("1 1:0.5\n0 2:nan\n")
    line = _error(capsys, path, "--chunk-rows", "1")
    assert f"{path}, line 2:" in line and "not finite" in line
    # the same through the command in a new process
    one_error_line(fastgd_cmd("fit", path, cwd="/"), 2, f"{path}, line 2:")


def _svmlight_file(path, n=120, d=30, seed=0):
    datasets = pytest.importorskip("sklearn.datasets")
    scipy_sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.2)
    y = (A @ rng.standard_normal(d) > 0).astype(float)
    datasets.dump_svmlight_file(scipy_sparse.csr_matrix(A), y, str(path))
    return A, y


def test_svmlight_fit_in_memory_and_streamed(tmp_path):
    datasets = pytest.importorskip("sklearn.datasets")
    _svmlight_file(tmp_path / "d.svm")
    Xs, ys = datasets.load_svmlight_file(str(tmp_path / "d.svm"))
    out = tmp_path / "m.npz"
    ok(fastgd_cmd("fit", tmp_path / "d.svm", "--model", "logistic", "--seed", 3,
                  "--epochs", 3, "--out", out, cwd="/"))
    saved, _ = model_from_npz(out)
    model = fastgd.LogisticRegression()
    fastgd.fit(model, Xs, ys, epochs=3, random_state=np.random.default_rng(3),
               optimizer="SGD")
    np.testing.assert_array_equal(saved.coef_, model.coef_)
    ok(fastgd_cmd("fit", tmp_path / "d.svm", "--model", "logistic", "--seed", 3,
                  "--epochs", 3, "--chunk-rows", 50, "--out", out, cwd="/"))
    saved, _ = model_from_npz(out)
    streamed = fastgd.LogisticRegression()
    parts = [(Xs[a:a + 50], ys[a:a + 50]) for a in range(0, Xs.shape[0], 50)]
    _by_hand(streamed, parts, 3, 3, optimizer="SGD", lr=0.01, batch_size=32)
    np.testing.assert_array_equal(saved.coef_, streamed.coef_)


def test_sparse_npz_fit_streamed(tmp_path):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    A, y = _svmlight_file(tmp_path / "unused.svm")
    M = scipy_sparse.csr_matrix(np.column_stack([A, y]))
    scipy_sparse.save_npz(tmp_path / "d.npz", M)
    out = tmp_path / "m.npz"
    ok(fastgd_cmd("fit", tmp_path / "d.npz", "--target", "-1", "--model", "logistic",
                  "--seed", 1, "--chunk-rows", 40, "--out", out, cwd="/"))
    saved, _ = model_from_npz(out)
    streamed = fastgd.LogisticRegression()
    X = scipy_sparse.csr_matrix(A)
    parts = [(X[a:a + 40], y[a:a + 40]) for a in range(0, X.shape[0], 40)]
    _by_hand(streamed, parts, 10, 1, optimizer="SGD", lr=0.01, batch_size=32)
    np.testing.assert_array_equal(saved.coef_, streamed.coef_)
