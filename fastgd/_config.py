"""Run-time settings of the compiled core: threads, instruction set and fused multiply-add;
``show_config``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral
from typing import Any

from fastgd import backends


def _core():
    try:
        return backends.load("cython")
    except ImportError:
        return None


def _check_count(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise TypeError(f"n must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def set_num_threads(n: int) -> None:
    """Split large buffers across ``n`` threads in the compiled core (``n >= 1``).

    Buffers below the threading threshold always run on the calling thread, and results
    are the same bits for any ``n`` (the kernels have no reductions). Without a call, the
    environment variable ``FASTGD_NUM_THREADS`` decides, else OpenMP's own setting
    (``OMP_NUM_THREADS``, or ``threadpoolctl.threadpool_limits``). The Numba and NumPy
    backends, and a compiled core built without OpenMP, run on one thread. The same role
    as ``torch.set_num_threads``, for fastgd's compiled core only.

    Example::

        n = fastgd.get_num_threads()
        fastgd.set_num_threads(1)
        fastgd.set_num_threads(n)
    """
    _check_count(n)
    core = _core()
    if core is not None:
        core.set_num_threads(int(n))


def get_num_threads() -> int:
    """How many threads the compiled core splits a large buffer across now (1 when the
    compiled core does not load). See :func:`set_num_threads`.

    Example::

        print(fastgd.get_num_threads())
    """
    core = _core()
    return core.get_num_threads() if core is not None else 1


def set_parallel_min(n: int) -> None:
    """Split buffers of at least ``n`` elements across threads in the optimizers' compiled
    kernels; smaller ones run on the calling thread. Results are the same bits either way.
    (The loss and gradient kernels of :mod:`fastgd.models` keep their own threshold.)

    The default is ``2**15`` elements, where two threads pay off when OpenMP's threads
    spin between parallel regions (its default); under ``OMP_WAIT_POLICY=PASSIVE`` each
    region wakes sleeping threads, and the default is ``2**20``. The policy is read from
    the environment when fastgd is imported (set it before importing fastgd or any other
    library that starts OpenMP). The environment variable ``FASTGD_PARALLEL_MIN`` sets
    the threshold at import.

    Example::

        n = fastgd.get_parallel_min()
        fastgd.set_parallel_min(1 << 18)
        fastgd.set_parallel_min(n)
    """
    _check_count(n)
    core = _core()
    if core is not None:
        core.set_parallel_min(int(n))


def get_parallel_min() -> int:
    """The smallest buffer, in elements, the compiled core splits across threads (see
    :func:`set_parallel_min`; 0 when the compiled core does not load).

    Example::

        print(fastgd.get_parallel_min())
    """
    core = _core()
    return core.get_parallel_min() if core is not None else 0


def set_fma(flag: bool) -> None:
    """Run torch.optim's update rules with fused multiply-add exactly where torch's CPU
    kernels use it (``True``: the torch-exact mode), or without any (``False``, the
    default).

    The default kernels round every product and every sum, on every instruction set and
    backend alike, and equal torch run with ``ATEN_CPU_CAPABILITY=default`` (and the NumPy
    reference) bit for bit. With ``set_fma(True)`` the compiled kernels of SGD, Adam,
    AdamW, Adagrad, RMSprop and torch's other rules fuse ``a*b + c`` where torch's
    AVX2/AVX-512 kernels do (``add`` with ``alpha``, ``addcmul``, ``lerp``) and take
    float32 square roots as torch does, so that float32 results equal torch.optim's (its
    for-loop and foreach paths) bit for bit on a CPU with FMA. Rules torch does not have
    are unchanged. Only the compiled backend has these kernels: with the Numba or NumPy
    backend active this raises ValueError, as does :func:`fastgd.set_backend` to either
    while the mode is on. ``FASTGD_FMA=1`` turns it on at import. Process-wide, from the
    next step of every optimizer.

    Example::

        with fastgd.use_backend("cython"):  # the compiled core's mode
            fastgd.set_fma(True)
            print(fastgd.get_fma())  # True
            fastgd.set_fma(False)
    """
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be True or False, got {flag!r}")
    core = _core()
    if flag:
        name = backends.backend()
        if name != "cython":
            raise ValueError(f"fused multiply-add (torch-exact) mode needs the compiled "
                             f"backend; the active backend is {name!r} (its kernels never "
                             f"fuse; fastgd.set_backend('cython') first)")
        if core is None:  # pragma: no cover - the cython backend is the core
            raise ValueError("fused multiply-add mode needs fastgd's compiled core")
    if core is not None:
        core.set_fma(flag)


def get_fma() -> bool:
    """Whether the torch-exact fused multiply-add kernels run (see :func:`set_fma`).

    Example::

        print(fastgd.get_fma())  # False unless set_fma(True) or FASTGD_FMA=1
    """
    core = _core()
    return bool(core.get_fma()) if core is not None else False


@contextlib.contextmanager
def use_fma(flag: bool) -> Iterator[bool]:
    """Run a block with fused multiply-add on or off (see :func:`set_fma`), then restore
    the previous setting. Process-wide, not per thread.

    Example::

        w = np.array([1.0, -2.0, 0.5], dtype=np.float32)
        opt = fastgd.Adam([w], lr=0.1)
        with fastgd.use_backend("cython"), fastgd.use_fma(True):  # torch's float32 bits
            opt.step([2 * w])
    """
    previous = get_fma()
    set_fma(flag)
    try:
        yield flag
    finally:
        set_fma(previous)


def config() -> dict[str, Any]:
    """The settings :func:`show_config` prints, as a dict: ``version``, ``backend``,
    ``numpy``, ``numba`` and ``compiled_core`` (None when the compiled core does not load,
    else its path, instruction set, OpenMP and thread settings).

    Example::

        info = fastgd.config()
        print(info["backend"], info["compiled_core"])
    """
    import numpy

    from fastgd import __version__

    core = _core()
    info: dict[str, Any] = {"version": __version__, "backend": backends.backend(),
                            "numpy": numpy.__version__}
    if core is None:
        info["compiled_core"] = None
    else:
        info["compiled_core"] = {
            "path": core.__file__, "isa": core.isa(), "isas": core.isas(),
            "fma": bool(core.get_fma()),
            "openmp": core.OPENMP, "threads": core.get_num_threads(),
            "threads_set_by_fastgd": core.thread_override() > 0,
            "parallel_min_elements": core.get_parallel_min(),
        }
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    return info


def show_config() -> None:
    """Print the backend, the instruction set and the thread settings in use (what
    :func:`config` returns), as ``numpy.show_config`` does for NumPy; ``fastgd info``
    prints the same.

    Example::

        fastgd.show_config()
    """
    info = config()
    print(f"fastgd {info['version']} (numpy {info['numpy']}, numba {info['numba']})")
    print(f"  active backend:   {info['backend']}")
    core = info["compiled_core"]
    if core is None:
        print("  compiled core:    not available")
        return
    supported = [name for name, ok in core["isas"].items() if ok]
    print(f"  compiled core:    {core['path']}")
    print(f"  instruction set:  {core['isa']} (built: {', '.join(core['isas'])}; "
          f"this CPU runs: {', '.join(supported)})")
    print(f"  fused multiply-add: {'on (torch-exact)' if core['fma'] else 'off'}")
    print(f"  OpenMP:           {'yes' if core['openmp'] else 'no'}; "
          f"{core['threads']} thread(s) for buffers of >= {core['parallel_min_elements']} "
          f"elements" + (" (set by fastgd)" if core["threads_set_by_fastgd"] else ""))
