"""The torch.optim layer: :class:`Optimizer` and the optimizer classes, for NumPy arrays.

``opt = fastgd.Adam([w, b], lr=1e-3); opt.step([gw, gb])`` updates ``w`` and ``b`` in place.
Each optimizer lives in its own module, ``fastgd/optim/<rule>.py``: its row
(:class:`~fastgd.optim.spec.OptimizerSpec`), its plan (the native calls of a step) and any
methods of its own; :mod:`fastgd.optim.optimizer` holds what they share and
:mod:`fastgd.optim.registry` lists them.

``fastgd.optim.CACHED_STEP = False`` turns the compiled backend's cached step off (the
general path then runs every step; the results are the same bits).
"""

#: Cache each optimizer's step on the compiled backend (set False to compare).
CACHED_STEP = True

# CACHED_STEP comes first: Optimizer.step reads it from this module.
from fastgd.optim import hessian  # noqa: E402
from fastgd.optim.adabelief import AdaBelief  # noqa: E402
from fastgd.optim.adadelta import Adadelta  # noqa: E402
from fastgd.optim.adafactor import Adafactor  # noqa: E402
from fastgd.optim.adagrad import Adagrad  # noqa: E402
from fastgd.optim.adam import Adam, AdamW  # noqa: E402
from fastgd.optim.adamax import Adamax  # noqa: E402
from fastgd.optim.asgd import ASGD  # noqa: E402
from fastgd.optim.lamb import LAMB  # noqa: E402
from fastgd.optim.lars import LARS  # noqa: E402
from fastgd.optim.lbfgs import LBFGS  # noqa: E402
from fastgd.optim.lion import Lion  # noqa: E402
from fastgd.optim.lowbit import Adam8bit, AdamW4bit, AdamW8bit, Lion8bit  # noqa: E402
from fastgd.optim.muon import Muon  # noqa: E402
from fastgd.optim.nadam import NAdam  # noqa: E402
from fastgd.optim.optimizer import Optimizer  # noqa: E402
from fastgd.optim.radam import RAdam  # noqa: E402
from fastgd.optim.registry import OPTIMIZERS  # noqa: E402
from fastgd.optim.rmsprop import RMSprop  # noqa: E402
from fastgd.optim.rprop import Rprop  # noqa: E402
from fastgd.optim.schedule_free import AdamWScheduleFree, SGDScheduleFree  # noqa: E402
from fastgd.optim.sgd import SGD  # noqa: E402
from fastgd.optim.sophia import Sophia  # noqa: E402
from fastgd.optim.sparse_adam import SparseAdam  # noqa: E402
from fastgd.optim.yogi import Yogi  # noqa: E402

__all__ = [
    "CACHED_STEP", "OPTIMIZERS", "Optimizer", "hessian",
    "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
    "Rprop", "ASGD", "Adafactor", "Lion", "AdaBelief", "LAMB", "LARS", "Yogi", "Sophia",
    "SGDScheduleFree", "AdamWScheduleFree",
    "Muon", "SparseAdam", "LBFGS",
    "Adam8bit", "AdamW8bit", "AdamW4bit", "Lion8bit",
]
