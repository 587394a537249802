"""The executable specification: every kernel in plain NumPy, line by line the equations.

Each function updates its buffers in place and returns None, with the same signature and
the same effect as its twin in :mod:`fastgd.kernels` (which runs the active backend). The
order of floating-point operations is torch.optim's single-tensor order, and every
hyperparameter is rounded once to the array's dtype, so that float32 and float64 results
are reproducible bit for bit by the compiled and Numba backends.

One module per update rule (``adam.py``: :func:`adam` and :func:`adam_eps_root`, each
declared by :func:`fastgd.reference._declare.kernel` from its signature), the shared
building blocks in ``_common.py``, the checks every backend makes in ``_checks.py``, and
the losses and clipping of :mod:`fastgd.models` in ``models.py``. Nothing here imports
from the rest of fastgd.

Notation: ``p`` parameter, ``g`` gradient (``-g`` when ``maximize``), ``t`` the step count
starting at 1, ``wd`` weight decay.
"""

from __future__ import annotations

from fastgd.reference import _declare
from fastgd.reference import lbfgs as lbfgs
from fastgd.reference._common import bias_corrections as bias_corrections
from fastgd.reference._common import sum_of_squares as sum_of_squares
from fastgd.reference.adabelief import adabelief as adabelief
from fastgd.reference.adadelta import adadelta as adadelta
from fastgd.reference.adafactor import adafactor as adafactor
from fastgd.reference.adafactor import adafactor_schedule as adafactor_schedule
from fastgd.reference.adagrad import adagrad as adagrad
from fastgd.reference.adam import adam as adam
from fastgd.reference.adam import adam_eps_root as adam_eps_root
from fastgd.reference.adamax import adamax as adamax
from fastgd.reference.asgd import asgd as asgd
from fastgd.reference.asgd import asgd_schedule as asgd_schedule
from fastgd.reference.lamb import lamb as lamb
from fastgd.reference.lars import lars as lars
from fastgd.reference.lbfgs import lbfgs_two_loop as lbfgs_two_loop
from fastgd.reference.lion import lion as lion
from fastgd.reference.lowbit import lowbit_adam as lowbit_adam
from fastgd.reference.lowbit import lowbit_lion as lowbit_lion
from fastgd.reference.muon import muon as muon
from fastgd.reference.muon import newton_schulz as newton_schulz
from fastgd.reference.muon import round_to_bfloat16 as round_to_bfloat16
from fastgd.reference.nadam import nadam as nadam
from fastgd.reference.radam import radam as radam
from fastgd.reference.rmsprop import rmsprop as rmsprop
from fastgd.reference.rprop import rprop as rprop
from fastgd.reference.schedule_free import adamw_schedule_free as adamw_schedule_free
from fastgd.reference.schedule_free import sgd_schedule_free as sgd_schedule_free
from fastgd.reference.sgd import sgd as sgd
from fastgd.reference.sophia import sophia as sophia
from fastgd.reference.sophia import sophia_hessian as sophia_hessian
from fastgd.reference.sparse_adam import sparse_adam as sparse_adam
from fastgd.reference.yogi import yogi as yogi

_declare.seal()

__all__ = [
    "sgd",
    "adam",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adamax",
    "nadam",
    "radam",
    "adam_eps_root",
    "rprop",
    "asgd",
    "adafactor",
    "lion",
    "adabelief",
    "lamb",
    "lars",
    "yogi",
    "sophia",
    "sophia_hessian",
    "sgd_schedule_free",
    "adamw_schedule_free",
    "muon",
    "newton_schulz",
    "round_to_bfloat16",
    "sparse_adam",
    "lowbit_adam",
    "lowbit_lion",
    "bias_corrections",
    "sum_of_squares",
    "lbfgs_two_loop",
]
