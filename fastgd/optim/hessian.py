"""Diagonal Hessian estimators for :class:`fastgd.Sophia` (``opt.update_hessian(...)``).

fastgd has no automatic differentiation: the caller supplies the model's outputs and
gradients through callables, and these functions turn them into the estimates Sophia
averages. Both return a list aligned with the caller's parameters, each estimate an array
of the parameter's shape and dtype (or None where the gradient was None), ready for
:meth:`fastgd.Sophia.update_hessian`. Randomness comes only from the
:class:`numpy.random.Generator` passed in, so a seeded generator gives the same estimates
every time.

- :func:`gauss_newton_bartlett`: SophiaG's estimator (Liu et al. 2023, Algorithm 2), for a
  softmax cross-entropy loss. Labels are drawn from the model's own predictive
  distribution, the gradient ``g`` of the *mean* loss on them is taken, and the estimate
  is ``B * g * g`` (``B`` the number of label positions). Its expectation is the diagonal
  of the Gauss-Newton matrix of the mean loss; it is never negative.
- :func:`hutchinson`: SophiaH's estimator, ``u * (H u)`` for random sign vectors ``u``
  (Rademacher, as optax; the Sophia paper draws Gaussian ones), from a Hessian-vector
  product. Unbiased for the Hessian diagonal; a single estimate can be negative (Sophia
  then takes a sign step for that coordinate, see :func:`fastgd.reference.sophia`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["gauss_newton_bartlett", "hutchinson", "sample_labels"]


def _generator(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def sample_labels(logits: ArrayLike, rng: np.random.Generator) -> np.ndarray:
    r"""One label per position, drawn from ``softmax(logits)`` along the last axis.

    ``logits`` has shape ``(..., C)`` (C classes); the result is an int64 array of shape
    ``logits.shape[:-1]`` (a NumPy int64 scalar when ``logits`` is 1-d). Sampling by
    inverse CDF with one ``rng.random(shape)`` draw (computed in float64): label ``c`` when
    ``F[c-1] <= u < F[c]``, ``F`` the cumulative probabilities. ``-inf`` logits (masked
    classes) are never drawn; NaN, ``+inf`` or a row with no finite logit is a ValueError.
    The same distribution as ``torch.distributions.Categorical(logits=logits).sample()``,
    which the official SophiaG training code draws from (not the same random stream).

    .. math::
        P(\text{label} = c) = \frac{e^{z_c}}{\sum_k e^{z_k}}

    Example::

        logits = np.array([[0.0, -np.inf], [2.0, 1.0]])  # row 0: class 1 is masked
        labels = fastgd.optim.hessian.sample_labels(logits, np.random.default_rng(0))
        assert labels.shape == (2,) and labels[0] == 0
    """
    rng = _generator(rng)
    z = np.asarray(logits)
    if not (np.issubdtype(z.dtype, np.floating) or np.issubdtype(z.dtype, np.integer)):
        raise TypeError(f"logits must be an array of real numbers, got dtype {z.dtype}")
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., classes) with at least one class, "
                         f"got shape {z.shape}")
    z = z.astype(np.float64)
    top = z.max(axis=-1, keepdims=True)
    if np.isnan(z).any() or not np.isfinite(top).all():
        raise ValueError("logits must not be NaN or +inf, and each position needs a finite "
                         "logit")
    weights = np.exp(z - top)
    cdf = np.cumsum(weights, axis=-1)
    cdf /= cdf[..., -1:]  # the last entry is exactly 1
    u = rng.random(z.shape[:-1])
    # For 1-d logits this is a NumPy int64 scalar, which behaves as a 0-d array.
    return np.sum(cdf <= u[..., None], axis=-1, dtype=np.int64)  # type: ignore[return-value]


def _batch_size(batch_size, default: int) -> float:
    if batch_size is None:
        return float(default)
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, Real):
        raise TypeError(f"batch_size must be a positive number, got {batch_size!r}")
    if not 0 < float(batch_size) < float("inf"):
        raise ValueError(f"batch_size must be a positive number, got {batch_size!r}")
    return float(batch_size)


def _gradient_list(what: str, grads, n: int | None = None) -> list:
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"{what} must return a list of arrays (or None), got "
                        f"{type(grads).__name__}")
    if n is not None and len(grads) != n:
        raise ValueError(f"{what} returned {len(grads)} arrays for {n} parameters")
    out: list[np.ndarray | None] = []
    for k, g in enumerate(grads):
        if g is None:
            out.append(None)
            continue
        if not isinstance(g, (np.ndarray, np.generic)) or not np.issubdtype(
                np.asarray(g).dtype, np.floating):
            raise TypeError(f"{what} returned a {type(g).__name__} at position {k}; expected "
                            f"a floating-point numpy array or None")
        out.append(np.asarray(g))
    return out


def gauss_newton_bartlett(logits: ArrayLike | Callable[[], ArrayLike],
                          loss_grad: Callable[[np.ndarray], Sequence],
                          rng: np.random.Generator, *, batch_size: float | None = None
                          ) -> list[np.ndarray | None]:
    r"""The Gauss-Newton-Bartlett estimate of the Hessian diagonal (SophiaG's estimator).

    .. math::
        \hat y \sim \operatorname{softmax}(\text{logits}), \quad
        g = \nabla_\theta \frac1B \sum_{b=1}^B \ell(\text{logits}_b, \hat y_b), \quad
        \hat h = B\, g \odot g

    with :math:`\ell` the cross-entropy. By Bartlett's identity its expectation is the
    diagonal of the Gauss-Newton matrix :math:`\frac1B \sum_b J_b^\top (\operatorname{diag}
    p_b - p_b p_b^\top) J_b` of the mean loss (:math:`J_b` the Jacobian of the logits of
    position b, :math:`p_b` its softmax), which for softmax or logistic regression is the
    Hessian itself.

    Args:
        logits: the model's logits on the current batch at the current parameters, shape
            ``(..., C)`` (one row of C class scores per position: an example, or a token
            of a sequence model), or a callable with no arguments returning them.
        loss_grad: ``loss_grad(labels)`` returns the gradient of the **mean** cross-entropy
            of those logits against integer ``labels`` of shape ``logits.shape[:-1]`` (the
            mean over all positions), with respect to the parameters: a list of arrays
            aligned with the parameters (None for one without a gradient), computed at the
            same parameters and batch as ``logits``.
        rng: the :class:`numpy.random.Generator` the labels are drawn from
            (:func:`sample_labels`).
        batch_size: the ``B`` of ``B * g * g``; by default the number of positions,
            ``prod(logits.shape[:-1])``, which is what the official code uses (``bs``, the
            tokens per step). Use the number of positions the mean runs over.

    Returns:
        ``[B * g * g for g in loss_grad(labels)]`` in each gradient's dtype (None stays
        None), for :meth:`fastgd.Sophia.update_hessian`.

    Example::

        rng = np.random.default_rng(0)
        X, W = rng.normal(size=(8, 3)), np.zeros((3, 4))  # softmax regression, 4 classes

        def ce_grad(labels):  # the gradient of the mean cross-entropy in W
            p = np.exp(X @ W)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(8), labels] -= 1
            return [X.T @ p / 8]

        h = fastgd.optim.hessian.gauss_newton_bartlett(X @ W, ce_grad, rng)
        opt = fastgd.Sophia([W], lr=1e-3)
        opt.update_hessian(h)
    """
    z = logits() if callable(logits) else logits
    labels = sample_labels(z, rng)
    scale = _batch_size(batch_size, labels.size)
    grads = _gradient_list("loss_grad", loss_grad(labels))
    return [None if g is None else np.asarray((g * g) * g.dtype.type(scale), dtype=g.dtype)
            for g in grads]


def hutchinson(hvp: Callable[[list[np.ndarray]], Sequence], params: Sequence[np.ndarray],
               rng: np.random.Generator, *, samples: int = 1) -> list[np.ndarray]:
    r"""Hutchinson's estimate of the Hessian diagonal (SophiaH's estimator).

    .. math::
        \hat h = \frac1S \sum_{s=1}^S u_s \odot (H u_s), \qquad
        u_s \in \{-1, 1\}^n \text{ uniform (Rademacher)}

    Unbiased: :math:`E[u \odot Hu] = \operatorname{diag} H`; the variance of a coordinate
    is :math:`\sum_{j \ne i} H_{ij}^2 / S`, so a diagonal Hessian is recovered exactly
    from one sample. An estimate can be negative even where the diagonal is positive.

    Args:
        hvp: ``hvp(vectors)`` returns the Hessian of the loss (at the current parameters
            and batch) times ``vectors``: given a list of arrays aligned with ``params``
            (each of its parameter's shape and dtype), a list of arrays of the same shapes.
        params: the parameters (a list of arrays; only their shapes and dtypes are used).
        rng: the :class:`numpy.random.Generator` of the sign vectors: for each sample, for
            each parameter in order, ``rng.integers(0, 2, size=p.shape)`` mapped to
            ``-1, +1``.
        samples: how many sign vectors to average (one ``hvp`` call each).

    Returns:
        One estimate per parameter, in its dtype (the average is summed in float64), for
        :meth:`fastgd.Sophia.update_hessian`.

    Example::

        H_diag = np.array([1.0, 2.0, 3.0])  # a diagonal Hessian: recovered exactly
        hvp = lambda vectors: [H_diag * vectors[0]]
        h = fastgd.optim.hessian.hutchinson(hvp, [np.zeros(3)], np.random.default_rng(0))
        assert np.array_equal(h[0], H_diag)
    """
    rng = _generator(rng)
    if not callable(hvp):
        raise TypeError(f"hvp must be a callable, got {type(hvp).__name__}")
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of arrays, got {type(params).__name__}")
    for k, p in enumerate(params):
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise TypeError(f"params[{k}] must be a floating-point numpy array, got "
                            f"{type(p).__name__}")
    if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, (int, np.integer)):
        raise TypeError(f"samples must be a positive integer, got {samples!r}")
    if samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    sums = [np.zeros(p.shape) for p in params]
    for _ in range(samples):
        signs = [np.asarray(2 * rng.integers(0, 2, size=p.shape) - 1, dtype=p.dtype)
                 for p in params]
        products = _gradient_list("hvp", hvp(signs), len(params))
        for k, (s, u, hu) in enumerate(zip(sums, signs, products)):
            if hu is None or hu.shape != s.shape:
                raise ValueError(f"hvp returned {'None' if hu is None else hu.shape} at "
                                 f"position {k}, expected an array of shape {s.shape}")
            s += u.astype(np.float64) * hu.astype(np.float64)
    return [np.asarray(s / samples, dtype=p.dtype) for s, p in zip(sums, params)]
