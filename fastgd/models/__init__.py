"""Linear models trained by gradient descent: the losses and their gradients on a batch
(:mod:`fastgd.models.losses`), gradient clipping (:mod:`fastgd.models.clip`), the model
classes (:mod:`fastgd.models.linear`) and their training loop, :func:`fastgd.fit`
(:mod:`fastgd.models.training`, which documents it exactly), continued over chunks of data
by :class:`PartialFit` (:mod:`fastgd.models.stream`).

``fastgd.models.fit`` is the function (``fastgd.fit``); its module is
``fastgd.models.training`` (where ``FUSED`` lives), named apart so that neither hides the
other.

.. code-block:: python

    import numpy as np
    from fastgd import models

    X = np.random.rand(10_000, 20); y = (X[:, 0] > 0.5).astype(np.float64)
    res = models.loss_grad("log_loss", X, y, np.zeros(20), np.zeros(1),
                           rows=np.arange(256), penalty="l2", alpha=1e-4)
    model = models.LogisticRegression().fit(X, y, optimizer="adam", lr=0.05, epochs=5)
"""

from __future__ import annotations

from fastgd.models.clip import clip_grad_norm_, clip_grad_value_
from fastgd.models.linear import (
    LinearModel,
    LinearRegression,
    LogisticRegression,
    SoftmaxRegression,
)
from fastgd.models.losses import (
    LOSSES,
    PENALTIES,
    LossGrad,
    decision_function,
    loss_grad,
    loss_value,
    predict,
    predict_proba,
)
from fastgd.models.stream import PartialFit
from fastgd.models.training import ConvergenceWarning, fit

__all__ = ["LOSSES", "PENALTIES", "LossGrad", "loss_grad", "loss_value", "decision_function",
           "predict", "predict_proba", "clip_grad_norm_", "clip_grad_value_", "LinearModel",
           "LinearRegression", "LogisticRegression", "SoftmaxRegression", "ConvergenceWarning",
           "fit", "PartialFit"]
