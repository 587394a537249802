"""Learning-rate schedules for fastgd's optimizers.

Two families, both driving any :class:`fastgd.Optimizer` through its ``param_groups`` only
(each scheduler reads and writes ``group["lr"]``, and the momentum schedules ``momentum``
or ``betas[0]``), so they work with every optimizer and every backend:

- torch.optim.lr_scheduler's schedulers (torch 2.13), with torch's names, arguments,
  defaults, formulas and behaviour: :class:`LambdaLR`, :class:`MultiplicativeLR`,
  :class:`StepLR`, :class:`MultiStepLR`, :class:`ConstantLR`, :class:`LinearLR`,
  :class:`ExponentialLR`, :class:`PolynomialLR`, :class:`CosineAnnealingLR`,
  :class:`CosineAnnealingWarmRestarts`, :class:`CyclicLR`, :class:`OneCycleLR`,
  :class:`ReduceLROnPlateau`, :class:`SequentialLR`, :class:`ChainedScheduler`, and
  their base class :class:`LRScheduler`. The learning rates are computed with torch's
  expressions, in torch's order of floating-point operations, so they are equal to
  torch's bit for bit. As in torch: the constructor performs the initial step (it sets
  ``group["initial_lr"]`` and the first learning rate), ``step()`` is called after the
  optimizer's ``step``, ``last_epoch`` counts the scheduler's steps, ``get_last_lr()``
  returns the learning rates last set, ``step(epoch)`` (deprecated in torch) uses the
  closed form where there is one, and ``state_dict()`` holds every attribute but the
  optimizer (functions and lambdas are left out; a callable object's ``__dict__`` is
  kept). The state dicts have torch's keys and values: one saved by torch loads here.

- scikit-learn's SGD learning-rate rules (``SGDClassifier``/``SGDRegressor``'s
  ``learning_rate``), as schedulers: :class:`OptimalLR` (``'optimal'``),
  :class:`InvScalingLR` (``'invscaling'``) and :class:`AdaptiveLR` (``'adaptive'``).
  scikit-learn updates once per sample and counts its updates with ``t``, starting at 1;
  here ``t`` counts the optimizer's steps the same way: the learning rate of the ``t``-th
  step is scikit-learn's ``eta`` at that ``t`` (``t = last_epoch + 1``).

Typical use::

    opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
    sched = fastgd.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        opt.step([grad(w)])
        sched.step()

Where torch differs from this module (all of it outside the learning rates): the
optimizer's type is checked first in every constructor; every argument is checked before
a constructor writes anything into the parameter groups (torch's ``CyclicLR`` and
``OneCycleLR`` write some values before their last checks); a NaN factor or fraction is
rejected with torch's message where torch's comparison lets it through; ``StepLR`` and
``CosineAnnealingLR`` reject a period that is not positive (torch accepts it and fails
with a ZeroDivisionError at the first step); ``state_dict()`` returns copies and
``load_state_dict`` does not change the dict it is given.
"""

from __future__ import annotations

from fastgd.lr_scheduler.base import EPOCH_DEPRECATION_WARNING as EPOCH_DEPRECATION_WARNING
from fastgd.lr_scheduler.base import LRScheduler
from fastgd.lr_scheduler.composite import ChainedScheduler, SequentialLR
from fastgd.lr_scheduler.cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from fastgd.lr_scheduler.plateau import ReduceLROnPlateau
from fastgd.lr_scheduler.sklearn import AdaptiveLR, InvScalingLR, OptimalLR
from fastgd.lr_scheduler.torch import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
    "LinearLR", "ExponentialLR", "SequentialLR", "PolynomialLR", "CosineAnnealingLR",
    "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts",
    "OneCycleLR", "OptimalLR", "InvScalingLR", "AdaptiveLR",
]
