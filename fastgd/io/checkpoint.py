"""Checkpoints: parameters, an optimizer's state and other values in one ``.npz`` file.

.. code-block:: python

    fastgd.save("run.ckpt", optimizer=opt, epoch=7, note="after warm-up")
    ...
    ckpt = fastgd.load("run.ckpt")          # checks the file; nothing is modified
    ckpt.restore(optimizer=opt)             # the parameters and the optimizer's state
    ckpt.extra["epoch"]                     # 7

**The file** is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays; :func:`numpy.load`
opens it) read with ``allow_pickle=False``, so loading one runs no code. Its entries:

- ``format``: UTF-8 JSON ``{"format": "fastgd.checkpoint", "version": 1}`` (uint8);
- ``meta``: UTF-8 JSON (uint8) holding everything that is not an array: the optimizer's
  class name, its ``param_groups`` (hyperparameters, and the keys schedulers add such as
  ``initial_lr``) and its scalar state (``step``, NAdam's ``mu_product``, ASGD's ``eta``
  and ``mu``, the schedule-free ``lr_max`` and ``weight_sum``), the ``extra`` values, and
  the fastgd version that wrote it; each array there is a reference to an entry;
- ``a0``, ``a1``, ...: the arrays (parameters, state buffers, arrays among the extras);
- ``checksum``: the SHA-256 of the other entries, each as its name, dtype (``dtype.str``),
  shape, byte count and bytes in C order, taken in the order of the names (ASCII hex).

Values keep their types through the file: Python ``int``, ``float`` (all 17 digits; NaN
and infinities too), ``bool``, ``str`` and None, tuples and lists, dicts (any hashable
keys of these types; other mappings become dicts, but a ``collections.Counter`` stays one),
NumPy arrays (numeric, bool and string dtypes, and ml_dtypes' bfloat16, kept as its bits) and
NumPy scalars, nested freely. Anything
else (functions, objects) is refused by :func:`save` with a TypeError naming where it is,
before anything is written.

**Writes are atomic**: :func:`save` writes a temporary file in the destination's directory,
flushes it to disk (``fsync``) and renames it over ``path`` (:func:`os.replace`, atomic on
POSIX and Windows), then syncs the directory. A crash or an error during a save leaves
``path`` as it was (a previous checkpoint stays intact; the temporary file is removed on
an error, and is left, named ``.<name>.<random>.tmp``, only by a crash).

**Loading checks everything first**: a file that is truncated or damaged (the zip's CRCs,
then the checksum), is not a fastgd checkpoint (another ``.npz``, a ``.npy``, random
bytes, an entry that would need pickle) or was written by a newer format version gives a
ValueError naming the file and the problem (a missing file: FileNotFoundError), and
:meth:`Checkpoint.restore` checks the parameters' count, shapes and dtypes and the
optimizer's class and groups before it writes anything.

**Resuming is exact**: the state is the optimizer's :meth:`~fastgd.Optimizer.state_dict`
(torch's layout) with every number stored exactly, so a run restored from a checkpoint
continues with the bits of the uninterrupted run, for every optimizer and backend.
:func:`fastgd.fit` writes and resumes checkpoints of whole training runs (its
``checkpoint=`` and ``resume=`` arguments; :mod:`fastgd.io.fit_resume`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FORMAT", "VERSION", "Checkpoint", "save", "load"]

#: The format's name, in every checkpoint's ``format`` entry.
FORMAT = "fastgd.checkpoint"
#: The format version this fastgd writes; it reads this version and older ones.
VERSION = 1

# Array dtypes a checkpoint holds: bool, integers, floats, complex, bytes and str (never
# objects, which would need pickle).
_ARRAY_KINDS = "biufcSU"
# The tags of encoded values: a JSON object with exactly one of these keys.
_TAGS = ("__array__", "__scalar__", "__tuple__", "__dict__", "__counter__", "__float__",
         "__bfloat16__", "__bfloat16_scalar__")
# The bit generators a checkpoint may name (fastgd.fit's shuffling generator).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# ---------------------------------------------------------------- values <-> JSON


def _encode(value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """``value`` as JSON-ready data; arrays and NumPy scalars go to ``arrays``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if _is_bfloat16(arr.dtype):  # ml_dtypes' bfloat16: its bits, as uint16
            name = f"a{len(arrays)}"
            arrays[name] = np.array(arr, order="C").view(np.uint16)
            return {"__bfloat16__" if isinstance(value, np.ndarray)
                    else "__bfloat16_scalar__": name}
        if arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.fields is not None:
            raise TypeError(f"{where}: an array of dtype {arr.dtype} cannot be saved (a "
                            f"checkpoint holds bool, integer, float, complex, bytes and str "
                            f"arrays, never objects)")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"__array__" if isinstance(value, np.ndarray) else "__scalar__": name}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        if math.isfinite(value):
            return value
        return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{where}[{k}]")
                              for k, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, arrays, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, Mapping):
        counter = isinstance(value, Counter)  # MultiStepLR's milestones
        if not counter and all(type(k) is str for k in value) and not (len(value) == 1
                                                         and next(iter(value)) in _TAGS):
            return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in value.items()}
        pairs = []
        for k, v in value.items():
            if isinstance(k, (np.ndarray, list, Mapping)):
                raise TypeError(f"{where}: a dict key of type {type(k).__name__} cannot be "
                                f"saved")
            pairs.append([_encode(k, arrays, f"{where} (a key)"),
                          _encode(v, arrays, f"{where}[{k!r}]")])
        return {"__counter__" if counter else "__dict__": pairs}
    raise TypeError(f"{where}: a {type(value).__name__} cannot be saved in a checkpoint "
                    f"(it holds None, bools, numbers, strings, NumPy arrays and scalars, and "
                    f"lists, tuples and dicts of these)")


def _decode(value: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The inverse of :func:`_encode` (KeyError/ValueError/TypeError on malformed data)."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise ValueError(f"unexpected JSON value {value!r}")
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "__array__":
            return arrays[inner]
        if tag == "__scalar__":
            arr = arrays[inner]
            if arr.shape != ():
                raise ValueError(f"entry {inner!r} should be a scalar, has shape {arr.shape}")
            return arr[()]
        if tag in ("__bfloat16__", "__bfloat16_scalar__"):
            bits = arrays[inner]
            if bits.dtype != np.uint16:
                raise ValueError(f"entry {inner!r} should hold bfloat16 bits (uint16), has "
                                 f"dtype {bits.dtype}")
            arr = bits.view(_bfloat16())
            return arr if tag == "__bfloat16__" else arr[()]
        if tag == "__tuple__":
            return tuple(_decode(v, arrays) for v in inner)
        if tag == "__float__":
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[inner]
        if tag in ("__dict__", "__counter__"):
            out = {_decode(k, arrays): _decode(v, arrays) for k, v in inner}
            return Counter(out) if tag == "__counter__" else out
    return {k: _decode(v, arrays) for k, v in value.items()}


def _is_bfloat16(dtype: np.dtype) -> bool:
    return dtype.name == "bfloat16" and dtype.kind == "V" and dtype.itemsize == 2


def _bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16 (ValueError when ml_dtypes is not installed)."""
    try:
        import ml_dtypes
    except ImportError:
        raise ValueError("the checkpoint holds bfloat16 arrays, which need the ml_dtypes "
                         "package (pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


def _dtype_name(dtype: np.dtype) -> str:
    """How a parameter's dtype is written: ``dtype.str``, or "bfloat16"."""
    return "bfloat16" if _is_bfloat16(dtype) else dtype.str


def _dtype_of(name: str) -> np.dtype:
    return _bfloat16() if name == "bfloat16" else np.dtype(name)


def _json_bytes(obj: Any) -> np.ndarray:
    text = json.dumps(obj, allow_nan=False, separators=(",", ":"), ensure_ascii=True)
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()


def _checksum(members: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every entry but ``checksum``, in name order: name, dtype, shape, byte
    count, then the bytes in C order (each field NUL-terminated)."""
    h = hashlib.sha256()
    for name in sorted(members):
        if name == "checksum":
            continue
        arr = np.ascontiguousarray(members[name])
        header = f"{name}\0{arr.dtype.str}\0{list(arr.shape)}\0{arr.nbytes}\0"
        h.update(header.encode("utf-8"))
        h.update(arr.reshape(-1).view(np.uint8).data if arr.size else b"")
    return h.hexdigest()


# ---------------------------------------------------------------- paths and writing


def _fspath(name: str, path: Any) -> str:
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike path, got {path!r}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str or os.PathLike path, got {path!r}")
    if not path:
        raise ValueError(f"{name} must not be empty")
    return path


def check_writable_path(name: str, path: Any) -> str:
    """``path`` as a str, checked as a destination for :func:`save`: its directory exists
    and it is not a directory (TypeError/ValueError naming ``name`` otherwise)."""
    path = _fspath(name, path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"{name}={path!r}: the directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"{name}={path!r} is a directory; give a file name")
    return path


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be
    opened, as on Windows)."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    try:
        fd = os.open(directory, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomically(path: str, members: dict[str, np.ndarray]) -> None:
    """Write ``members`` as an .npz to a temporary file beside ``path``, fsync it, rename
    it over ``path``; on any error remove the temporary file and re-raise."""
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            # (numpy's stubs take a ** mapping to possibly hold savez's allow_pickle)
            np.savez(f, **members)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


# ---------------------------------------------------------------- save


def _optimizer_name(optimizer: Any) -> str:
    return optimizer.spec.name


def save(path: str | os.PathLike, *, optimizer: Any = None,
         params: Sequence[np.ndarray] | None = None, **extra: Any) -> None:
    """Write a checkpoint to ``path`` atomically (see :mod:`fastgd.io.checkpoint`).

    Args:
        path: the file to write (str or path-like; its directory must exist). The name is
            used as given (no suffix is added).
        optimizer: a fastgd optimizer: its class name and ``state_dict()`` are saved.
        params: the arrays to save; None with an optimizer saves the optimizer's
            parameters (all groups, in order), which :meth:`Checkpoint.restore` then
            restores into the optimizer's parameters by default.
        extra: more values to keep (``epoch=3``, ``history=...``): None, bools, numbers,
            strings, NumPy arrays and scalars, and lists, tuples and dicts of these.

    Everything is checked (and encoded) before the file is opened: a TypeError names a
    value that cannot be saved. A failed save leaves ``path`` as it was.

    Example::

        import os, tempfile
        w = np.zeros(3); opt = fastgd.Adam([w], lr=0.1); opt.step([np.ones(3)])
        path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
        fastgd.save(path, optimizer=opt, epoch=1)      # parameters, state, extra=epoch
        fastgd.load(path).extra["epoch"]               # 1
    """
    from fastgd.optim import Optimizer

    path = _fspath("path", path)
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastgd optimizer or None, got "
                        f"{type(optimizer).__name__}")
    opt_params = ([] if optimizer is None
                  else [p for g in optimizer.param_groups for p in g["params"]])
    if params is None:
        params = opt_params
        of_optimizer = optimizer is not None
    else:
        if isinstance(params, np.ndarray) or not isinstance(params, Sequence):
            raise TypeError(f"params must be a list of arrays or None, got "
                            f"{type(params).__name__}")
        params = list(params)
        for k, p in enumerate(params):
            if not isinstance(p, np.ndarray):
                raise TypeError(f"params[{k}] must be a numpy.ndarray, got "
                                f"{type(p).__name__}")
        of_optimizer = (optimizer is not None and len(params) == len(opt_params)
                        and all(a is b for a, b in zip(params, opt_params)))
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"fastgd_version": _version()}
    meta["params"] = [_encode(p, arrays, f"params[{k}]") for k, p in enumerate(params)]
    meta["params_of_optimizer"] = of_optimizer
    if optimizer is None:
        meta["optimizer"] = None
    else:
        state = optimizer.state_dict()
        meta["optimizer"] = {
            "class": _optimizer_name(optimizer),
            "params": [[list(p.shape), _dtype_name(p.dtype)] for p in opt_params],
            "state_dict": _encode(state, arrays, "optimizer.state_dict()"),
        }
    meta["extra"] = {k: _encode(v, arrays, k) for k, v in extra.items()}
    members = {"format": _json_bytes({"format": FORMAT, "version": VERSION}),
               "meta": _json_bytes(meta), **arrays}
    members["checksum"] = np.frombuffer(_checksum(members).encode("ascii"),
                                        dtype=np.uint8).copy()
    _write_atomically(path, members)


def _version() -> str:
    import fastgd
    return fastgd.__version__


# ---------------------------------------------------------------- load


@dataclass
class Checkpoint:
    """A checkpoint read by :func:`load`: plain data, checked; nothing restored yet.

    Attributes:
        path: the file it was read from.
        params: the saved arrays (new arrays, read from the file).
        optimizer_class: the optimizer's class name (``"Adam"``), or None.
        optimizer_state: the optimizer's ``state_dict()`` as saved (torch's layout, which
            ``opt.load_state_dict`` takes), or None.
        extra: the extra values given to :func:`save`.
        version: the file's format version.
        fastgd_version: the version of fastgd that wrote it.

    Example::

        import os, tempfile
        w = np.zeros(3); opt = fastgd.SGD([w], lr=0.1, momentum=0.9)
        opt.step([np.ones(3)])
        path = os.path.join(tempfile.mkdtemp(), "sgd.ckpt")
        fastgd.save(path, optimizer=opt)
        w2 = np.zeros(3); opt2 = fastgd.SGD([w2], lr=0.1, momentum=0.9)
        fastgd.load(path).restore(optimizer=opt2)      # w2 == w, the same momentum
    """

    path: str
    params: list[np.ndarray]
    optimizer_class: str | None
    optimizer_state: dict[str, Any] | None
    extra: dict[str, Any]
    version: int = VERSION
    fastgd_version: str = ""
    _optimizer_params: list = field(default_factory=list, repr=False)
    _params_of_optimizer: bool = field(default=False, repr=False)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{p.dtype}{list(p.shape)}" for p in self.params)
        return (f"Checkpoint({self.path!r}: arrays [{shapes}], optimizer "
                f"{self.optimizer_class}, extra {sorted(self.extra)}, format version "
                f"{self.version})")

    def restore(self, *, optimizer: Any = None,
                params: Sequence[np.ndarray] | None = None) -> None:
        """Restore the saved state into ``optimizer`` and the saved arrays into
        ``params``, in place, after checking everything.

        Args:
            optimizer: a fastgd optimizer of the saved class whose parameters have the
                saved count, groups, shapes and dtypes: it gets the saved state
                (``load_state_dict``: hyperparameters, ``step`` and buffers, a
                schedule-free optimizer's train/eval mode).
            params: arrays of the saved shapes and dtypes (writeable) to copy the saved
                arrays into. None: the optimizer's parameters when the checkpoint was
                saved with them (``save(path, optimizer=opt)``); otherwise no arrays are
                copied.

        Raises:
            TypeError, ValueError: a mismatch (named, with the saved and the given
                value); raised before the optimizer or any array is modified.
        """
        from fastgd.optim import Optimizer

        if optimizer is None and params is None:
            raise TypeError("restore() needs optimizer= or params=")
        if optimizer is not None:
            if not isinstance(optimizer, Optimizer):
                raise TypeError(f"optimizer must be a fastgd optimizer, got "
                                f"{type(optimizer).__name__}")
            if self.optimizer_state is None:
                raise ValueError(f"checkpoint {self.path!r} holds no optimizer state")
            name = _optimizer_name(optimizer)
            if name != self.optimizer_class:
                raise ValueError(f"checkpoint {self.path!r} holds the state of a "
                                 f"{self.optimizer_class} optimizer, not of a {name}")
            groups = self.optimizer_state["param_groups"]
            sizes = [len(g["params"]) for g in groups]
            ours = [len(g["params"]) for g in optimizer.param_groups]
            if sizes != ours:
                raise ValueError(f"checkpoint {self.path!r}: the optimizer had parameter "
                                 f"groups of sizes {sizes}, this one has {ours}")
            opt_params = [p for g in optimizer.param_groups for p in g["params"]]
            for k, (p, (shape, dtype)) in enumerate(zip(opt_params, self._optimizer_params)):
                if p.shape != tuple(shape) or p.dtype != _dtype_of(dtype):
                    raise ValueError(f"checkpoint {self.path!r}: the optimizer's parameter "
                                     f"{k} was {_dtype_of(dtype)} of shape {tuple(shape)}, "
                                     f"this one's is {p.dtype} of shape {p.shape}")
            if params is None and self._params_of_optimizer:
                params = opt_params
        targets: list[np.ndarray] = []
        if params is not None:
            if isinstance(params, np.ndarray) or not isinstance(params, Sequence):
                raise TypeError(f"params must be a list of arrays, got "
                                f"{type(params).__name__}")
            targets = list(params)
            if len(targets) != len(self.params):
                raise ValueError(f"checkpoint {self.path!r} holds {len(self.params)} "
                                 f"arrays, got {len(targets)} to restore into")
            for k, (p, saved) in enumerate(zip(targets, self.params)):
                if not isinstance(p, np.ndarray):
                    raise TypeError(f"params[{k}] must be a numpy.ndarray, got "
                                    f"{type(p).__name__}")
                if p.shape != saved.shape or p.dtype != saved.dtype:
                    raise ValueError(f"checkpoint {self.path!r}: array {k} was "
                                     f"{saved.dtype} of shape {saved.shape}, params[{k}] is "
                                     f"{p.dtype} of shape {p.shape}")
                if not p.flags.writeable:
                    raise ValueError(f"params[{k}] is read-only")
        if optimizer is not None:
            # checks every group and state entry before it replaces anything
            optimizer.load_state_dict(self.optimizer_state)
        for p, saved in zip(targets, self.params):
            np.copyto(p, saved)


def _fail(path: str, problem: str, exc: BaseException | None = None) -> ValueError:
    return ValueError(f"cannot load checkpoint {path!r}: {problem}"
                      + (f" ({type(exc).__name__}: {exc})" if exc is not None else ""))


def _read_json(path: str, arr: np.ndarray, entry: str) -> Any:
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise _fail(path, f"its {entry!r} entry is {arr.dtype} of shape {arr.shape}, not "
                          f"the uint8 text of a fastgd checkpoint")
    try:
        return json.loads(arr.tobytes().decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(path, f"its {entry!r} entry is not JSON text", exc) from exc


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and check the checkpoint at ``path`` (see :mod:`fastgd.io.checkpoint`).

    The file is read with ``np.load(..., allow_pickle=False)``; every entry is read and
    the checksum verified before the contents are decoded. Nothing outside the returned
    :class:`Checkpoint` is modified: :meth:`Checkpoint.restore` puts the state back.

    Raises:
        FileNotFoundError, PermissionError, IsADirectoryError: ``path`` cannot be opened.
        ValueError: the file is truncated or damaged, not a fastgd checkpoint, or of a
            newer format version (the message names the file and the problem).

    Example::

        import os, tempfile
        path = os.path.join(tempfile.mkdtemp(), "params.ckpt")
        fastgd.save(path, params=[np.arange(3.0)], note="weights only")
        ckpt = fastgd.load(path)
        ckpt.params[0], ckpt.extra["note"], ckpt.optimizer_class   # ..., None
    """
    path = _fspath("path", path)
    with open(path, "rb") as f:
        try:
            npz = np.load(f, allow_pickle=False)
        except Exception as exc:  # zipfile.BadZipFile, EOFError, pickle refused, ...
            raise _fail(path, "it is not a readable .npz file (truncated, damaged or not "
                              "a checkpoint)", exc) from exc
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise _fail(path, "it is a single .npy array, not a fastgd checkpoint (.npz)")
        with npz:
            names = list(npz.files)
            if "format" not in names:
                shown = ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "")
                raise _fail(path, f"it is an .npz file but not a fastgd checkpoint (no "
                                  f"'format' entry; its entries: {shown or 'none'})")
            members: dict[str, np.ndarray] = {}
            for name in ["format"] + [n for n in names if n != "format"]:
                try:
                    members[name] = npz[name]
                except Exception as exc:  # CRC errors, truncation, pickled entries
                    raise _fail(path, f"its entry {name!r} cannot be read (the file is "
                                      f"damaged or truncated, or the entry needs pickle)",
                                exc) from exc
                if name == "format":
                    version = _check_format(path, _read_json(path, members[name], "format"))
    if "checksum" not in members or "meta" not in members:
        raise _fail(path, "it lacks its 'checksum' or 'meta' entry")
    checksum = members["checksum"]
    if checksum.dtype != np.uint8 or checksum.ndim != 1 or \
            checksum.tobytes() != _checksum(members).encode("ascii"):
        raise _fail(path, "its checksum does not match its contents (the file was "
                          "damaged or modified)")
    meta = _read_json(path, members["meta"], "meta")
    arrays = {k: v for k, v in members.items() if k not in ("format", "meta", "checksum")}
    try:
        params = [_decode(p, arrays) for p in meta["params"]]
        if not all(isinstance(p, np.ndarray) for p in params):
            raise ValueError("params must be arrays")
        opt = meta["optimizer"]
        extra = {k: _decode(v, arrays) for k, v in meta["extra"].items()}
        if opt is not None:
            state = _decode(opt["state_dict"], arrays)
            if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
                    and isinstance(state.get("param_groups"), list)):
                raise ValueError("the optimizer state is not a state dict")
            opt_class, opt_params = str(opt["class"]), list(opt["params"])
        else:
            state, opt_class, opt_params = None, None, []
        ckpt = Checkpoint(path=path, params=params, optimizer_class=opt_class,
                          optimizer_state=state, extra=extra,
                          version=version,
                          fastgd_version=str(meta.get("fastgd_version", "")),
                          _optimizer_params=opt_params,
                          _params_of_optimizer=bool(meta.get("params_of_optimizer")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _fail(path, "its metadata is malformed", exc) from exc
    return ckpt


def _check_format(path: str, header: Any) -> int:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _fail(path, f"it is an .npz file but not a fastgd checkpoint (format "
                          f"{header.get('format') if isinstance(header, dict) else header!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(path, f"its format version {version!r} is not valid")
    if version > VERSION:
        raise _fail(path, f"it was written in format version {version} by a newer fastgd; "
                          f"this fastgd ({_version()}) reads versions up to {VERSION}")
    return version


# ---------------------------------------------------------------- generators


def generator_state(rng: np.random.Generator) -> dict:
    """The state of ``rng``'s bit generator (``bit_generator.state``), for :func:`save`."""
    return dict(rng.bit_generator.state)


def check_generator_state(state: Any, where: str) -> str:
    """The bit generator's name of a saved ``bit_generator.state``; ValueError unless it
    is one of NumPy's (the name picks a class from a fixed list: no code is looked up)."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"{where}: the saved random generator state names bit generator "
                         f"{name!r}; expected one of {', '.join(_BIT_GENERATORS)}")
    return name


def restore_generator(state: dict, rng: np.random.Generator | None) -> np.random.Generator:
    """``rng`` (or a new Generator of the saved bit generator) set to ``state``."""
    name = state["bit_generator"]
    if rng is None or type(rng.bit_generator).__name__ != name:
        rng = np.random.Generator(getattr(np.random, name)())
    rng.bit_generator.state = state
    return rng


# ---------------------------------------------------------------- helpers for fastgd.fit


def check_saveable(value: Any, where: str) -> None:
    """TypeError (naming ``where``) unless :func:`save` can store ``value``."""
    _encode(value, {}, where)


def scheduler_state(scheduler: Any) -> dict:
    """A scheduler's ``state_dict()``, checked to be a dict."""
    state = scheduler.state_dict()
    if not isinstance(state, Mapping):
        raise TypeError(f"{type(scheduler).__name__}.state_dict() must return a dict, got "
                        f"{type(state).__name__}")
    return dict(state)
