"""The comparison the sparse training tests share: a fit on sparse X against the same fit
on ``X.toarray()``. Imported as ``from models._sparse_fit import ...`` (``tests/conftest.py``
puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

import numpy as np
import pytest

import fastgd


def rel(a, b) -> float:
    """max |a - b| over max |b| (1e-300 at least), as floats."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def fit_sparse_and_dense(ms, md, X, y, **fit_kwargs):
    """Fit ``ms`` on sparse ``X`` and ``md`` on ``X.toarray()`` with the same arguments
    (tol=0.0: each warns that it did not converge); the weights must agree within 1e-10
    relative, the loss histories within 1e-10 and the step counts exactly. Returns both
    histories."""
    with pytest.warns(fastgd.ConvergenceWarning):
        hs = fastgd.fit(ms, X, y, **fit_kwargs)
    with pytest.warns(fastgd.ConvergenceWarning):
        hd = fastgd.fit(md, X.toarray(), y, **fit_kwargs)
    assert rel(ms.coef_, md.coef_) < 1e-10
    assert rel(ms.intercept_, md.intercept_) < 1e-10
    np.testing.assert_allclose(hs.loss, hd.loss, rtol=1e-10)
    assert hs.n_steps == hd.n_steps
    return hs, hd
