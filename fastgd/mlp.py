"""A small multilayer perceptron in NumPy and a training loop over any fastgd optimizer.

The network has ReLU hidden layers and a softmax cross-entropy loss; its gradients come
from a hand-written backward pass in float32. The parameters may be float32, bfloat16 or
float16 arrays (the forward and backward passes widen them to float32), so the same loop
compares an optimizer on float32 weights with the same optimizer on 16-bit weights:

.. code-block:: python

    data = fastgd.mlp.load_digits_split()                     # scikit-learn's digits
    run = fastgd.mlp.train(fastgd.AdamW, data, {"lr": 1e-3}, seed=0)
    run.history.test_accuracy[-1]                              # about 0.97
    run16 = fastgd.mlp.train(fastgd.AdamW, data, {"lr": 1e-3, "stochastic_rounding": True},
                             param_dtype=ml_dtypes.bfloat16, seed=0)

``train`` takes any optimizer class (or registry name) and its keyword arguments, so an
optimizer of any kind is compared in one line. ``bench/bench_lowp_accuracy.py`` runs the
comparison over several seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from fastgd.history import History
from fastgd.optim.registry import lookup

__all__ = ["MLP", "Digits", "load_digits_split", "TrainResult", "train"]


class MLP:
    """A fully connected network: ``sizes[0]`` inputs, ReLU hidden layers of
    ``sizes[1:-1]`` units and ``sizes[-1]`` logits; parameters ``[W0, b0, W1, b1, ...]``
    (``W`` of shape (fan_in, fan_out), He-initialised from ``seed``; ``b`` zero), stored
    as ``dtype`` (float32, float64, bfloat16 or float16: the initial values are drawn in
    float32 and rounded to it).

    Example::

        net = fastgd.mlp.MLP((4, 8, 3), seed=0)
        X, y = np.ones((5, 4), np.float32), np.array([0, 1, 2, 0, 1])
        loss, grads = net.loss_and_grads(X, y)   # grads aligned with net.params
    """

    def __init__(self, sizes: tuple[int, ...] = (64, 64, 10), *, seed: int = 0,
                 dtype: Any = np.float32) -> None:
        if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1
                                 for s in sizes):
            raise ValueError(f"sizes must be at least two positive ints, got {sizes!r}")
        rng = np.random.default_rng(seed)
        self.sizes = tuple(int(s) for s in sizes)
        self.params: list[np.ndarray] = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in))
            self.params.append(w.astype(np.float32).astype(dtype))
            self.params.append(np.zeros(fan_out, dtype))

    def _float32(self) -> list[np.ndarray]:
        return [p if p.dtype == np.float32 else p.astype(np.float32) for p in self.params]

    def logits(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs for the rows of ``X`` (float32)."""
        h = np.asarray(X, np.float32)
        params = self._float32()
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = np.maximum(h, 0)
        return h

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class of each row of ``X``."""
        return np.argmax(self.logits(X), axis=1)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        """The fraction of rows of ``X`` classified as ``y``."""
        return float(np.mean(self.predict(X) == y))

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """The mean softmax cross-entropy of the rows of ``X`` against labels ``y``."""
        z = self.logits(X)
        return float(np.mean(_logsumexp(z) - z[np.arange(len(y)), y]))

    def loss_and_grads(self, X: np.ndarray,
                       y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The mean softmax cross-entropy on ``(X, y)`` and its gradient with respect to
        each parameter (float32 arrays aligned with :attr:`params`), by backpropagation:
        with :math:`z_L` the logits, :math:`\\partial z_L = (\\mathrm{softmax}(z_L) -
        \\mathrm{onehot}(y)) / n`, then for each layer :math:`\\partial W_k = h_{k-1}^T
        \\partial z_k`, :math:`\\partial b_k = \\sum_i \\partial z_k`, :math:`\\partial
        z_{k-1} = (\\partial z_k W_k^T) \\odot [z_{k-1} > 0]`."""
        X = np.asarray(X, np.float32)
        params = self._float32()
        inputs, pre = [X], []
        h = X
        for k in range(0, len(params), 2):
            z = h @ params[k] + params[k + 1]
            pre.append(z)
            h = np.maximum(z, 0) if k + 2 < len(params) else z
            inputs.append(h)
        z = pre[-1]
        n = len(y)
        lse = _logsumexp(z)
        loss = float(np.mean(lse - z[np.arange(n), y]))
        dz = np.exp(z - lse[:, None])
        dz[np.arange(n), y] -= 1
        dz /= np.float32(n)
        grads: list[np.ndarray] = [np.empty(0, np.float32)] * len(params)
        for layer in range(len(pre) - 1, -1, -1):
            grads[2 * layer] = inputs[layer].T @ dz
            grads[2 * layer + 1] = dz.sum(axis=0)
            if layer:
                dz = (dz @ params[2 * layer].T) * (pre[layer - 1] > 0)
        return loss, [np.ascontiguousarray(g, dtype=np.float32) for g in grads]


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


class Digits(NamedTuple):
    """A train/test split: float32 features in [0, 1], int labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0, test_fraction: float = 0.25) -> Digits:
    """scikit-learn's 8x8 digits (1797 images, 10 classes), pixels scaled to [0, 1],
    split into train and test sets stratified by class (``seed`` picks the split).
    Needs scikit-learn (``pip install "fastgd[sklearn]"``)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError('the digits data need scikit-learn: pip install '
                          '"fastgd[sklearn]"') from None
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Digits(X_train, y_train, X_test, y_test)


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained network, the optimizer, and the history per
    epoch (``loss``: the mean training loss over the epoch's batches; ``test_loss``,
    ``test_accuracy``: on the test set after the epoch)."""

    model: MLP
    optimizer: Any
    history: History


def train(optimizer: Any, data: Digits, options: dict[str, Any] | None = None, *,
          sizes: tuple[int, ...] = (64, 64, 10), param_dtype: Any = np.float32,
          epochs: int = 30, batch_size: int = 32, seed: int = 0) -> TrainResult:
    """Train an :class:`MLP` on ``data`` with mini-batches and return the run.

    Args:
        optimizer: an optimizer class (``fastgd.AdamW`` or any
            :class:`~fastgd.Optimizer` subclass) or a registry name (``"adamw"``).
        data: a :class:`Digits` split (:func:`load_digits_split`), or any four arrays
            in its order with ``sizes[0]`` features and labels below ``sizes[-1]``.
        options: the optimizer's keyword arguments (``{"lr": 1e-3,
            "stochastic_rounding": True, "seed": 0}``).
        sizes: the layer widths.
        param_dtype: the parameters' dtype (float32, bfloat16, float16, ...).
        epochs, batch_size: passes over the training set, rows per step (the last
            batch of an epoch may be smaller).
        seed: the initial weights and the order of the rows in each epoch.
    """
    cls = lookup(optimizer)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    X_train, y_train, X_test, y_test = data
    model = MLP(sizes, seed=seed, dtype=param_dtype)
    opt = cls(model.params, **(options or {}))
    rng = np.random.default_rng([seed, 1])
    history = History(("loss", "test_loss", "test_accuracy"))
    n = len(y_train)
    for _ in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            loss, grads = model.loss_and_grads(X_train[rows], y_train[rows])
            opt.step(grads)
            total += loss * len(rows)
        history.append(loss=total / n, test_loss=model.loss(X_test, y_test),
                       test_accuracy=model.accuracy(X_test, y_test))
    return TrainResult(model, opt, history)
