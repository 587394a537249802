"""Which implementation runs the kernels: ``cython`` (compiled), ``numba`` or ``numpy``.

One table names each backend's modules: the optimizer kernels (``<kernel>_many``, loaded by
:func:`load`) and the model kernels of :mod:`fastgd.models` (losses and clipping, loaded by
:func:`load_models`).

At import the choice comes from the environment variable ``FASTGD_BACKEND``; without it,
the compiled core if it loads, else Numba if installed, else the NumPy reference, with a
warning naming the reason the first time a fallback is taken. Asking for a backend that
cannot load raises ImportError saying why.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator
from types import ModuleType

BACKENDS = ("cython", "numba", "numpy")

#: Backend name -> (its optimizer kernels' module, its model kernels' module).
_MODULES = {
    "cython": ("fastgd.backends._core", "fastgd.backends._models"),
    "numba": ("fastgd.backends.numba_optim", "fastgd.backends.numba_models"),
    "numpy": ("fastgd.backends.numpy", "fastgd.reference.models"),
}
_HINTS = {
    "cython": "the compiled core is built by 'pip install .' (it needs a C compiler)",
    "numba": "install it with: pip install \"fastgd[numba]\"",
    "numpy": "",
}

_loaded: dict[str, ModuleType] = {}
_loaded_models: dict[str, ModuleType] = {}
_active: ModuleType | None = None


def load(name: str) -> ModuleType:
    """The backend module called ``name``, imported on first use."""
    if name not in BACKENDS:
        raise ValueError(f"unknown fastgd backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module = _loaded.get(name)
    if module is None:
        try:
            module = importlib.import_module(_MODULES[name][0])
        except ImportError as exc:
            hint = f"; {_HINTS[name]}" if _HINTS[name] else ""
            raise ImportError(f"fastgd backend {name!r} cannot be loaded: {exc}{hint}") from exc
        _loaded[name] = module
    return module


def load_models(name: str) -> ModuleType:
    """The model kernels (losses and clipping) of the backend called ``name``, imported on
    first use; ImportError says why they cannot load."""
    if name not in BACKENDS:
        raise ValueError(f"unknown fastgd backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module = _loaded_models.get(name)
    if module is None:
        try:
            module = importlib.import_module(_MODULES[name][1])
        except ImportError as exc:
            raise ImportError(f"fastgd's {name!r} backend has no model kernels: {exc}; "
                              f"rebuild it ('pip install .')") from exc
        _loaded_models[name] = module
    return module


def active_models() -> ModuleType:
    """The model kernels of the active backend (see :func:`load_models`)."""
    return load_models(backend())


def available() -> list[str]:
    """The backends that load here, in order of preference."""
    names = []
    for name in BACKENDS:
        try:
            load(name)
        except ImportError:
            continue
        names.append(name)
    return names


def active() -> ModuleType:
    """The module of the active backend (its ``*_many`` functions run the kernels)."""
    assert _active is not None
    return _active


def backend() -> str:
    """The name of the active backend: ``'cython'``, ``'numba'`` or ``'numpy'``.

    At import it is ``FASTGD_BACKEND`` if set, else the compiled core if it loads, else
    Numba, else NumPy. The three give the same bits.

    Example::

        print(fastgd.backend())  # 'cython' where the compiled core is built
    """
    return active().NAME


def set_backend(name: str) -> None:
    """Make ``name`` the active backend; ImportError says why if it cannot load.

    ``name`` is one of :data:`BACKENDS` (``'cython'``, ``'numba'``, ``'numpy'``); the
    choice is process-wide and applies to every optimizer from its next step (the same as
    setting ``FASTGD_BACKEND`` before the import).

    Example::

        previous = fastgd.backend()
        fastgd.set_backend("numpy")  # the NumPy reference kernels
        fastgd.set_backend(previous)
    """
    global _active
    module = load(name)
    if name != "cython" and fma_in_force():
        raise ValueError(f"fastgd backend {name!r} has no fused multiply-add kernels and FMA "
                         f"mode is on (fastgd.set_fma(True) or FASTGD_FMA=1): call "
                         f"fastgd.set_fma(False) first")
    _active = module


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Run a block with another backend, then restore the previous one.

    The choice is process-wide (not per thread), like :func:`set_backend`.

    Example::

        w = np.array([1.0, -2.0, 0.5])
        with fastgd.use_backend("numpy"):
            fastgd.SGD([w], lr=0.1).step([2 * w])
    """
    previous = active()
    set_backend(name)
    try:
        yield name
    finally:
        global _active
        _active = previous


def fma_in_force() -> bool:
    """Whether the compiled core runs its fused multiply-add kernels (fastgd.set_fma);
    False while it is not loaded."""
    core = _loaded.get("cython")
    return core is not None and bool(core.get_fma())


def _check_fma_request() -> None:
    """FASTGD_FMA=1 asks for the compiled core's fused multiply-add kernels: refuse any
    other backend rather than ignore it."""
    if os.environ.get("FASTGD_FMA", "").strip().lower() in ("1", "true", "yes"):
        if _active is None or _active.NAME != "cython":
            name = None if _active is None else _active.NAME
            raise ImportError(f"FASTGD_FMA=1 needs fastgd's compiled backend, which has the "
                              f"fused multiply-add kernels; the backend is {name!r}")


def _choose_at_import() -> None:
    requested = os.environ.get("FASTGD_BACKEND", "").strip().lower()
    if requested:
        set_backend(requested)
        _check_fma_request()
        return
    reasons = []
    for name in BACKENDS:
        try:
            set_backend(name)
        except ImportError as exc:
            reasons.append(str(exc))
            continue
        if reasons:
            warnings.warn(f"fastgd is using the {name!r} backend: " + "; ".join(reasons),
                          RuntimeWarning, stacklevel=3)
        _check_fma_request()
        return


_choose_at_import()
