r"""Losses, gradients and Hessian diagonals of linear models, on a batch of rows.

The building blocks of a training loop: one call per batch gives the (weighted) mean loss
of a linear model with intercept, its gradient with respect to ``coef`` and ``intercept``
and, on request, the diagonal of its Hessian (for Sophia-style optimizers), on the active
backend (``fastgd.backend()``: the compiled core, Numba, or the NumPy reference).

.. code-block:: python

    import numpy as np
    from fastgd import models

    X = np.random.rand(10_000, 20); y = (X[:, 0] > 0.5).astype(np.float64)
    coef, intercept = np.zeros(20), np.zeros(1)
    rows = np.arange(256)                                  # the batch: rows of X and y
    res = models.loss_grad("log_loss", X, y, coef, intercept, rows=rows,
                           penalty="l2", alpha=1e-4)
    res.loss, res.grad_coef, res.grad_intercept            # float, (20,), (1,)

**The model.** Decision values :math:`z_i = x_i^\top\beta + b` for the batch's rows
:math:`x_i`: ``coef`` :math:`\beta` of shape ``(d,)`` and ``intercept`` :math:`b` of shape
``(1,)`` or ``()`` (or ``None``: no intercept); for ``softmax_cross_entropy``, ``coef`` of
shape ``(d, k)`` and ``intercept`` ``(k,)``, one decision value per class.

**The objective.** With weights :math:`w_i` (``sample_weight``, 1 without it) and
:math:`W = \sum_i w_i` over the batch,

.. math::
    L(\beta, b) = \frac{1}{W}\sum_i w_i\,\ell(z_i, y_i) + R(\beta)

the weighted mean (scikit-learn's convention: ``sum(w * l) / sum(w)``) plus a penalty on
``coef`` only (never the intercept), in scikit-learn's form:

- ``penalty="l2"``: :math:`R = \frac{\alpha}{2}\|\beta\|_2^2`, gradient :math:`\alpha\beta`,
  Hessian diagonal :math:`\alpha`;
- ``penalty="l1"``: :math:`R = \alpha\|\beta\|_1`, subgradient :math:`\alpha\,\mathrm{sign}(\beta)`
  with :math:`\mathrm{sign}(0) = 0`; it adds nothing to the Hessian diagonal (0 away from
  :math:`\beta_j = 0`, undefined there);
- ``penalty="elasticnet"``: :math:`R = \alpha\left(\rho\|\beta\|_1
  + \frac{1-\rho}{2}\|\beta\|_2^2\right)` with :math:`\rho` = ``l1_ratio``.

**The losses** (``r = z - y``; :math:`\ell'` and :math:`\ell''` are derivatives in
:math:`z`, the gradient is :math:`\frac1W\sum_i w_i \ell'_i x_i`, the Hessian diagonal
:math:`\frac1W\sum_i w_i \ell''_i x_i^2`):

- ``"squared_error"``: :math:`\ell = r^2` -- the mean squared error as usually taught,
  ``sklearn.metrics.mean_squared_error``; :math:`\ell' = 2r`, :math:`\ell'' = 2`.
- ``"half_squared_error"``: :math:`\ell = r^2/2` -- what scikit-learn's
  ``SGDRegressor(loss="squared_error")`` and its ``HalfSquaredError`` minimise.
- ``"huber"``: :math:`\ell = r^2/2` for :math:`|r| \le \epsilon`, else
  :math:`\epsilon(|r| - \epsilon/2)` (scikit-learn's SGD Huber; ``torch.nn.HuberLoss``
  with ``delta = epsilon``). Default ``epsilon = 0.1`` (scikit-learn's), must be > 0.
  :math:`\ell'' = 1` inside, 0 outside; at :math:`|r| = \epsilon` exactly the inside
  branch is taken (1).
- ``"epsilon_insensitive"``: :math:`\ell = \max(0, |r| - \epsilon)` (SVR's loss,
  scikit-learn's SGD form); :math:`\ell' = \mathrm{sign}(r)` for :math:`|r| > \epsilon`,
  else 0 (0 on the boundary too, as scikit-learn; ``epsilon=0`` gives the absolute error
  with subgradient 0 at :math:`r = 0`). Default ``epsilon = 0.1``, must be >= 0.
- ``"log_loss"``: binary cross-entropy on the logit, :math:`\ell = \log(1 + e^z) - yz`,
  for ``y`` in [0, 1] (labels 0/1, or probabilities); :math:`\ell' = \sigma(z) - y`,
  :math:`\ell'' = \sigma(z)\sigma(-z)`. Computed as
  :math:`\max(z, 0) - yz + \log1p(e^{-|z|})`, so no logit overflows (``z = 1e300``
  gives a finite loss and gradient).
- ``"hinge"``: :math:`\ell = \max(0, 1 - tz)` with :math:`t = +1` for ``y = 1`` and
  :math:`t = -1` for ``y = 0`` **or** ``y = -1`` (both label conventions are accepted,
  even mixed); :math:`\ell' = -t` where :math:`tz \le 1` (margin exactly 1 included, as
  scikit-learn's SGD and torch autograd), else 0.
- ``"softmax_cross_entropy"``: multinomial log-loss,
  :math:`\ell = \log\sum_c e^{z_c} - z_y` with integer labels ``y`` in ``0 .. k-1``
  (``sklearn.metrics.log_loss`` on the softmax probabilities); :math:`\ell'_c = p_c -
  [c = y]` and the exact diagonal :math:`\ell''_c = p_c(1 - p_c)`, computed with the
  maximum subtracted and without cancellation in :math:`1 - p_c`.

**Hessian conventions.** ``hessian=True`` returns the exact diagonal of the Hessian
wherever it exists. Piecewise-linear losses (``hinge``, ``epsilon_insensitive``, Huber's
linear part) have zero curvature almost everywhere, so their diagonal is 0 there (and at
their kinks the branch named above is taken): the generalised Gauss-Newton diagonal of a
loss that is linear in :math:`z` is also 0. For the squared and log losses the Hessian
diagonal equals the Gauss-Newton diagonal (:math:`\ell''` times :math:`x^2`).

**Batches.** ``rows`` (a 1-D int64 array) selects the batch's rows of ``X``, ``y`` and
``sample_weight`` without copying them (duplicates allowed; each in ``0 .. n_samples-1``);
without it the batch is all of ``X``.

**Arrays.** ``X``: float32 or float64, shape ``(n_samples, d)``, C- or F-ordered (or any
view with one unit stride and non-negative strides, such as a slice of rows of an
F-ordered array): never copied. ``y``, ``sample_weight``: 1-D of length ``n_samples``,
any non-negative stride; ``y`` has X's dtype (int64 labels for softmax),
``sample_weight`` X's dtype, finite and >= 0, not all zero over the batch. ``coef``,
``intercept`` and the outputs: X's dtype, C-contiguous. Everything is computed in
float64 and rounded once to the dtype of the outputs; the loss is a Python float.

**Sparse X.** ``X`` may be a ``scipy.sparse`` matrix or array (any format; checked and
brought to CSR by :func:`fastgd.models.sparse.as_csr`) or a
:class:`~fastgd.models.sparse.CSR`: the same mathematics, computed over the stored values
only by the backend's CSR kernels (float64 sums in storage order; repeated entries add;
the Hessian diagonal squares a row's summed repeats), agreeing with the dense path on
``X.toarray()`` to rounding. The gradient is returned dense. See the guide's "Sparse
data" page for what costs O(nnz) and what O(d).

**Non-finite values.** NaN or inf in ``X``, ``coef``, ``intercept`` or regression
targets is not checked: it propagates to the loss and the gradients as IEEE arithmetic
does (a NaN decision value gives a NaN loss and NaN gradients). Classification targets
are checked (a NaN label is rejected), and so are weights.

**Validation.** Every argument is checked before anything is written: a TypeError or
ValueError names the argument and the value (the first invalid row index, target or
weight, by batch position). On any error the output arrays are untouched.

**Order of operations.** The compiled and Numba backends give the same bits (for any
thread count, and for X in either order); the NumPy reference states the same
mathematics with NumPy's own sums and agrees with them to ~1e-15 relative in float64.
The compiled core splits batches of more than 1024 rows into at most 64 chunks whose
partial sums are added in chunk order; the chunks depend only on the batch size and the
size of ``coef``, so the thread count (``fastgd.set_num_threads``) never changes a bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastgd import backends
from fastgd.models import _sparse_losses as _sparse
from fastgd.models._loss_checks import (  # noqa: F401  (fit and the tests use them here)
    _array,
    _check_batch,
    _check_model,
    _check_X,
    _epsilon,
    _loss_kind,
    _output,
    _penalty_weights,
    _raise_status,
    _real,
    _same_dtype,
    _vector,
)
from fastgd.models.params import PENALTIES
from fastgd.reference.models import KINDS, OK

__all__ = ["LOSSES", "PENALTIES", "LossGrad", "loss_grad", "loss_value", "decision_function",
           "predict", "predict_proba"]

#: The loss names :func:`loss_grad` takes.
LOSSES = KINDS

_REGRESSION = ("squared_error", "half_squared_error", "huber", "epsilon_insensitive")


class LossGrad(NamedTuple):
    """What :func:`loss_grad` returns: the loss (a Python float), the gradient arrays and,
    with ``hessian=True``, the Hessian diagonals (else ``None``). ``grad_intercept`` and
    ``hess_intercept`` are ``None`` without an intercept. A named tuple, so
    ``loss, grad_coef, grad_intercept, _, _ = loss_grad(...)`` unpacks it.

    Example::

        X, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 2.0])
        r = fastgd.models.loss_grad("squared_error", X, y, np.zeros(2), np.zeros(1))
        assert r.loss == (1.0 + 4.0) / 2 and r.hess_coef is None
    """
    loss: float
    grad_coef: np.ndarray
    grad_intercept: np.ndarray | None
    hess_coef: np.ndarray | None = None
    hess_intercept: np.ndarray | None = None


def _impl():
    """The model kernels of the active backend."""
    return backends.active_models()


def _run(loss, X, y, coef, intercept, sample_weight, rows, penalty, alpha, l1_ratio,
         epsilon, grad_coef, grad_intercept, hessian, hess_coef, hess_intercept, want_grad):
    kind = _loss_kind(loss)
    X = _check_X(X)
    k = _check_model(loss, X, coef, intercept)
    _check_batch(loss, kind, X, y, sample_weight, rows)
    a1, a2 = _penalty_weights(penalty, alpha, l1_ratio)
    eps = _epsilon(loss, epsilon)
    if not isinstance(hessian, (bool, np.bool_)):
        raise TypeError(f"hessian must be True or False, got {hessian!r}")
    gc = gi = hc = hi = None
    if want_grad:
        given: list = []
        if intercept is None:
            if grad_intercept is not None:
                raise ValueError("grad_intercept given but intercept is None (no intercept)")
            if hess_intercept is not None:
                raise ValueError("hess_intercept given but intercept is None (no intercept)")
        if not hessian and (hess_coef is not None or hess_intercept is not None):
            raise ValueError("hess_coef / hess_intercept given with hessian=False; pass "
                             "hessian=True to compute the Hessian diagonal")
        gc, _ = _output("grad_coef", grad_coef, coef, given)
        if intercept is not None:
            gi, _ = _output("grad_intercept", grad_intercept, intercept, given)
        if hessian:
            hc, _ = _output("hess_coef", hess_coef, coef, given)
            if intercept is not None:
                hi, _ = _output("hess_intercept", hess_intercept, intercept, given)
    if isinstance(X, np.ndarray):
        status, pos, value = _impl().loss_grad(kind, X, y, coef, intercept, sample_weight,
                                               rows, a1, a2, eps, gc, gi, hc, hi)
    else:
        status, pos, value = _impl().csr_loss_grad(kind, X.data, X.indices, X.indptr,
                                                   X.shape[1], y, coef, intercept,
                                                   sample_weight, rows, a1, a2, eps, gc, gi,
                                                   hc, hi)
    if status != OK:
        _raise_status(status, pos, loss, X, y, sample_weight, rows, k)
    return LossGrad(float(value), gc, gi, hc, hi)


# ---------------------------------------------------------------------------- API ---

def loss_grad(loss: str, X: np.ndarray, y: np.ndarray, coef: np.ndarray,
              intercept: np.ndarray | None = None, *, sample_weight: np.ndarray | None = None,
              rows: np.ndarray | None = None, penalty: str | None = None, alpha: float = 0.0,
              l1_ratio: float = 0.15, epsilon: float | None = None,
              grad_coef: np.ndarray | None = None, grad_intercept: np.ndarray | None = None,
              hessian: bool = False, hess_coef: np.ndarray | None = None,
              hess_intercept: np.ndarray | None = None) -> LossGrad:
    r"""The mean loss of a linear model on a batch, and its gradient (and Hessian diagonal).

    .. math::
        L = \frac{\sum_i w_i\,\ell(x_i^\top\beta + b,\ y_i)}{\sum_i w_i} + R(\beta),\qquad
        \nabla_\beta L = \frac{\sum_i w_i\,\ell'_i\,x_i}{\sum_i w_i} + \nabla R(\beta),\qquad
        \nabla_b L = \frac{\sum_i w_i\,\ell'_i}{\sum_i w_i}

    and with ``hessian=True`` the diagonals
    :math:`\frac{\sum_i w_i \ell''_i x_i^2}{\sum_i w_i} + \nabla^2 R` and
    :math:`\frac{\sum_i w_i \ell''_i}{\sum_i w_i}`. The losses, penalties and conventions
    are described in the module's documentation (:mod:`fastgd.models.losses`).

    Args:
        loss: one of :data:`LOSSES`.
        X: ``(n_samples, d)`` float32 or float64, C- or F-ordered (not copied); or
            sparse (a ``scipy.sparse`` matrix or a :class:`~fastgd.models.sparse.CSR`).
        y: ``(n_samples,)`` targets of X's dtype; int64 class labels for
            ``softmax_cross_entropy``; 0/1 (or [0, 1]) for ``log_loss``; 0/1 or -1/1 for
            ``hinge``.
        coef: ``(d,)``, or ``(d, k)`` for softmax, X's dtype.
        intercept: ``(1,)`` or ``()`` (``(k,)`` for softmax), X's dtype; ``None`` for a
            model without intercept.
        sample_weight: ``(n_samples,)`` weights of X's dtype, finite and >= 0.
        rows: int64 indices of the batch's rows in X, y and sample_weight (default: all).
        penalty: ``None``, ``"l2"``, ``"l1"`` or ``"elasticnet"`` (on coef only).
        alpha: the penalty's strength (>= 0; must be 0 without a penalty).
        l1_ratio: elastic-net mixing in [0, 1] (1: pure L1).
        epsilon: Huber's threshold (> 0) or the insensitive tube's half-width (>= 0);
            default 0.1; only for those two losses.
        grad_coef, grad_intercept: arrays to write the gradient into (new ones by default).
        hessian: also compute the diagonal of the Hessian.
        hess_coef, hess_intercept: arrays to write it into (new ones by default).

    Returns:
        :class:`LossGrad` ``(loss, grad_coef, grad_intercept, hess_coef, hess_intercept)``.

    Raises:
        TypeError, ValueError: naming the argument and the value; nothing is written then.

    The losses and penalties, and which scikit-learn, torch or NumPy definition each
    matches, are listed in :mod:`fastgd.models.losses`.

    Example::

        X = np.array([[1.0, 2.0], [3.0, 4.0]])
        y = np.array([1.0, 2.0])
        r = fastgd.models.loss_grad("squared_error", X, y, np.zeros(2), np.zeros(1),
                                    penalty="l2", alpha=0.1)
        # at coef = 0: loss = ((0 - 1)**2 + (0 - 2)**2) / 2, grad_coef = -2 X^T y / 2
        assert r.loss == 2.5 and np.allclose(r.grad_coef, -(X.T @ y))
    """
    return _run(loss, X, y, coef, intercept, sample_weight, rows, penalty, alpha, l1_ratio,
                epsilon, grad_coef, grad_intercept, hessian, hess_coef, hess_intercept, True)


def loss_value(loss: str, X: np.ndarray, y: np.ndarray, coef: np.ndarray,
               intercept: np.ndarray | None = None, *, sample_weight: np.ndarray | None = None,
               rows: np.ndarray | None = None, penalty: str | None = None, alpha: float = 0.0,
               l1_ratio: float = 0.15, epsilon: float | None = None) -> float:
    r"""The loss of :func:`loss_grad` alone (no gradient is computed): the same number,
    bit for bit, on the same backend:

    .. math::
        L = \frac{\sum_i w_i\,\ell(x_i^\top\beta + b,\ y_i)}{\sum_i w_i} + R(\beta)

    with the losses and penalties of :mod:`fastgd.models.losses` (scikit-learn's
    conventions).

    Example::

        X, y = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 2.0])
        loss = fastgd.models.loss_value("squared_error", X, y, np.zeros(2), np.zeros(1))
        assert loss == 2.5  # the mean of r**2 (squared_error)
    """
    return _run(loss, X, y, coef, intercept, sample_weight, rows, penalty, alpha, l1_ratio,
                epsilon, None, None, False, None, None, False).loss


def decision_function(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray | None = None,
                      *, rows: np.ndarray | None = None) -> np.ndarray:
    r"""The decision values ``X[rows] @ coef + intercept``: shape ``(n,)`` for a coef of
    shape ``(d,)``, ``(n, k)`` for ``(d, k)``; in X's dtype, computed by NumPy's matmul
    on every backend (its last bits may differ from those inside :func:`loss_grad`):

    .. math::
        z_i = x_i^\top \beta + b

    as scikit-learn's linear models' ``decision_function``.

    Example::

        X = np.array([[1.0, 2.0], [3.0, 4.0]])
        z = fastgd.models.decision_function(X, np.array([1.0, -1.0]), np.array([0.5]))
        assert z.tolist() == [-0.5, -0.5]
    """
    X = _check_X(X)
    loss = "softmax_cross_entropy" if isinstance(coef, np.ndarray) and coef.ndim == 2 \
        else "squared_error"
    _check_model(loss, X, coef, intercept)
    if rows is not None:
        _array("rows", rows)
        if rows.dtype != np.int64 or rows.ndim != 1:
            raise TypeError(f"rows must be a 1-D int64 array, got dtype {rows.dtype} and "
                            f"shape {rows.shape}")
        bad = (rows < 0) | (rows >= X.shape[0])
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"rows[{pos}] = {rows[pos]} is out of range for X with "
                             f"{X.shape[0]} rows (0 <= row < {X.shape[0]})")
    if not isinstance(X, np.ndarray):
        return _sparse.decision(X, coef, intercept, rows)
    if rows is not None:
        X = X[rows]
    z = X @ coef
    if intercept is not None:
        z += intercept.reshape(-1) if coef.ndim == 2 else intercept.reshape(())
    return z


def predict(loss: str, X: np.ndarray, coef: np.ndarray, intercept: np.ndarray | None = None,
            *, rows: np.ndarray | None = None) -> np.ndarray:
    r"""Predictions of the model trained with ``loss``: the decision values for the
    regression losses; labels 0/1 (int64, 1 where the decision value is > 0) for
    ``log_loss`` and ``hinge``; the class of the largest decision value (int64, the first
    on ties) for ``softmax_cross_entropy``, as scikit-learn's ``predict``:

    .. math::
        \hat y_i = z_i \ \text{(regression)}, \quad [z_i > 0] \ \text{(binary)}, \quad
        \operatorname{argmax}_k z_{ik} \ \text{(softmax)}, \qquad z = X\beta + b

    Example::

        X = np.array([[1.0, 2.0], [3.0, 1.0]])
        labels = fastgd.models.predict("log_loss", X, np.array([1.0, -1.0]), np.array([0.0]))
        assert labels.tolist() == [0, 1]
    """
    _loss_kind(loss)
    z = decision_function(X, coef, intercept, rows=rows)
    if loss in _REGRESSION:
        return z
    if loss == "softmax_cross_entropy":
        if z.ndim != 2:
            raise ValueError(f"softmax_cross_entropy takes coef of shape (n_features, "
                             f"n_classes), got {np.shape(coef)}")
        return np.argmax(z, axis=1).astype(np.int64)
    if z.ndim != 1:
        raise ValueError(f"{loss} takes coef of shape (n_features,), got {np.shape(coef)}")
    return (z > 0).astype(np.int64)


def predict_proba(loss: str, X: np.ndarray, coef: np.ndarray,
                  intercept: np.ndarray | None = None, *,
                  rows: np.ndarray | None = None) -> np.ndarray:
    r"""Class probabilities, as scikit-learn's ``predict_proba``: ``(n, 2)`` columns
    ``[1 - p, p]`` with ``p = sigmoid(z)`` for ``log_loss``; ``(n, k)`` softmax
    probabilities (maximum subtracted) for ``softmax_cross_entropy``. Other losses have no
    probabilities (ValueError).

    .. math::
        p_i = \frac{1}{1 + e^{-z_i}} \ \text{(log\_loss)}, \qquad
        p_{ik} = \frac{e^{z_{ik} - \max_j z_{ij}}}{\sum_l e^{z_{il} - \max_j z_{ij}}}
        \ \text{(softmax)}

    Example::

        X = np.array([[1.0, 2.0], [3.0, 1.0]])
        p = fastgd.models.predict_proba("log_loss", X, np.array([1.0, -1.0]), np.array([0.0]))
        assert p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1.0)
    """
    _loss_kind(loss)
    if loss not in ("log_loss", "softmax_cross_entropy"):
        raise ValueError(f"{loss} does not model probabilities; predict_proba takes "
                         f"log_loss or softmax_cross_entropy")
    z = decision_function(X, coef, intercept, rows=rows)
    with np.errstate(over="ignore"):
        if loss == "log_loss":
            if z.ndim != 1:
                raise ValueError(f"log_loss takes coef of shape (n_features,), got "
                                 f"{np.shape(coef)}")
            e = np.exp(-np.abs(z))
            p = np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)
            q = np.where(z >= 0, e / (1 + e), 1 / (1 + e)).astype(z.dtype)
            return np.stack([q, p], axis=1)
        if z.ndim != 2:
            raise ValueError(f"softmax_cross_entropy takes coef of shape (n_features, "
                             f"n_classes), got {np.shape(coef)}")
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
