"""fastgd: compiled gradient-descent optimizers for NumPy arrays.

torch.optim's optimizers (names, arguments, defaults, update rules and validation) on
NumPy arrays, run by a compiled C core, with Numba and NumPy implementations of the same
kernels behind the same API.

- Optimizer classes, one per row of :mod:`fastgd.optim.registry`: :class:`SGD`,
  :class:`Adam`, ... (``opt = fastgd.Adam([w], lr=1e-3); opt.step([g])``).
- Functional kernels: :mod:`fastgd.kernels` (active backend) and :mod:`fastgd.reference`
  (NumPy, the specification), with the same signatures.
- Backends: :func:`backend`, :func:`set_backend`, :func:`use_backend`; the environment
  variable ``FASTGD_BACKEND`` (``cython``, ``numba`` or ``numpy``) chooses at import.
- Models and training: :mod:`fastgd.models` (losses, linear models, :func:`fit`,
  clipping), :func:`minimize`, :mod:`fastgd.lr_scheduler`, :mod:`fastgd.sklearn`.
- :class:`ParamBuffer`: a model's parameters in one contiguous array, one pass per step.
- Checkpoints: :func:`save`, :func:`load` (:mod:`fastgd.io.checkpoint`).
- Settings of the compiled core: :func:`set_num_threads`, :func:`get_num_threads`,
  :func:`set_parallel_min`, :func:`get_parallel_min`, :func:`show_config`; torch-exact
  float32: :func:`set_fma`, :func:`get_fma`, :func:`use_fma`
  (``FASTGD_NUM_THREADS``, ``FASTGD_PARALLEL_MIN`` and ``FASTGD_ISA`` choose at import).

The package is laid out by layer, each importing only from the layers below it:
``reference`` (the specification) < ``backends`` (dispatch and kernels) < ``optim`` (the
optimizers) < ``models``, ``lr_scheduler``, ``io``, ``cli`` and this module.
"""

from fastgd import functions, io, kernels, lr_scheduler, models, optim, reference
from fastgd._config import (
    config,
    get_fma,
    get_num_threads,
    get_parallel_min,
    set_fma,
    set_num_threads,
    set_parallel_min,
    show_config,
    use_fma,
)
from fastgd.backends import BACKENDS, backend, set_backend, use_backend
from fastgd.buffer import ParamBuffer
from fastgd.history import History
from fastgd.io.checkpoint import Checkpoint, load, save
from fastgd.minimize import MinimizeResult, minimize
from fastgd.models import (
    ConvergenceWarning,
    LinearModel,
    LinearRegression,
    LogisticRegression,
    SoftmaxRegression,
    clip_grad_norm_,
    clip_grad_value_,
    fit,
)
from fastgd.optim import (
    ASGD,
    LAMB,
    LARS,
    LBFGS,
    SGD,
    AdaBelief,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adam8bit,
    Adamax,
    AdamW,
    AdamW4bit,
    AdamW8bit,
    AdamWScheduleFree,
    Lion,
    Lion8bit,
    Muon,
    NAdam,
    Optimizer,
    RAdam,
    RMSprop,
    Rprop,
    SGDScheduleFree,
    Sophia,
    SparseAdam,
    Yogi,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # backends and settings
    "BACKENDS", "backend", "set_backend", "use_backend", "config", "show_config",
    "set_num_threads", "get_num_threads", "set_parallel_min", "get_parallel_min",
    "set_fma", "get_fma", "use_fma",
    # subpackages and modules
    "kernels", "reference", "optim", "lr_scheduler", "models", "functions", "io",
    # optimizers
    "Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam",
    "RAdam", "Rprop", "ASGD", "Adafactor", "Lion", "AdaBelief", "LAMB", "LARS", "Yogi",
    "Sophia", "SGDScheduleFree", "AdamWScheduleFree",
    "Muon", "SparseAdam", "LBFGS",
    "Adam8bit", "AdamW8bit", "AdamW4bit", "Lion8bit",
    # training
    "ParamBuffer", "minimize", "MinimizeResult", "History", "clip_grad_norm_",
    "clip_grad_value_", "fit", "ConvergenceWarning", "LinearModel", "LinearRegression",
    "LogisticRegression", "SoftmaxRegression",
    # checkpoints
    "Checkpoint", "save", "load",
]
