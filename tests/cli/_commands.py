"""The command-line tests' helpers, in one place: ``python -m fastgd`` in a new process,
its checks (success, a one-line error), the data files the commands read (CSV, .npy) and
the model files they write, read back with fastgd's public classes. Imported as
``from cli._commands import ...`` (``tests/conftest.py`` puts ``tests/`` on
``sys.path``)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastgd

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
