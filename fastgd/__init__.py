"""fastgd: compiled gradient-descent optimizers for NumPy arrays.

torch.optim's optimizers (names, arguments, defaults, update rules and validation) on
NumPy arrays, run by a compiled C core, with Numba and NumPy implementations of the same
kernels behind the same API.

- Optimizer classes, one per row of :mod:`fastgd.registry`: :class:`SGD`, :class:`Adam`, ...
  (``opt = fastgd.Adam([w], lr=1e-3); opt.step([g])``).
- Functional kernels: :mod:`fastgd.kernels` (active backend) and :mod:`fastgd.reference`
  (NumPy, the specification), with the same signatures.
- Backends: :func:`backend`, :func:`set_backend`, :func:`use_backend`; the environment
  variable ``FASTGD_BACKEND`` (``cython``, ``numba`` or ``numpy``) chooses at import.
- :class:`ParamBuffer`: a model's parameters in one contiguous array, one pass per step.
- Checkpoints: :func:`save`, :func:`load` (:mod:`fastgd.checkpoint`).
- Settings of the compiled core: :func:`set_num_threads`, :func:`get_num_threads`,
  :func:`set_parallel_min`, :func:`get_parallel_min`, :func:`show_config`
  (``FASTGD_NUM_THREADS``, ``FASTGD_PARALLEL_MIN`` and ``FASTGD_ISA`` choose at import).
"""

from fastgd import (
    checkpoint,
    functions,
    hessian,
    kernels,
    lr_scheduler,
    models,
    reference,
    registry,
    training,
)
from fastgd import optim as _optim
from fastgd._backend import BACKENDS, backend, set_backend, use_backend
from fastgd._config import (
    config,
    get_num_threads,
    get_parallel_min,
    set_num_threads,
    set_parallel_min,
    show_config,
)
from fastgd.buffer import ParamBuffer
from fastgd.checkpoint import Checkpoint, load, save
from fastgd.clip import clip_grad_norm_, clip_grad_value_
from fastgd.history import History
from fastgd.minimize import MinimizeResult, minimize
from fastgd.optim import Optimizer
from fastgd.registry import OPTIMIZERS as _OPTIMIZERS
from fastgd.training import (
    ConvergenceWarning,
    LinearModel,
    LinearRegression,
    LogisticRegression,
    SoftmaxRegression,
    fit,
)

__version__ = "0.1.0"

__all__ = [
    "BACKENDS", "backend", "set_backend", "use_backend", "kernels", "reference", "registry",
    "lr_scheduler", "hessian",
    "config", "show_config", "set_num_threads", "get_num_threads", "set_parallel_min",
    "get_parallel_min",
    "ParamBuffer", "Optimizer", "__version__", "minimize", "MinimizeResult", "History",
    "functions", "models", "clip_grad_norm_", "clip_grad_value_", "training", "fit",
    "ConvergenceWarning", "LinearModel", "LinearRegression", "LogisticRegression",
    "SoftmaxRegression", "checkpoint", "Checkpoint", "save", "load", *_OPTIMIZERS,
]
# The optimizer classes, one per row of the registry (SGD, Adam, ... ).
globals().update({name: getattr(_optim, name) for name in _OPTIMIZERS})
