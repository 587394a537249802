"""Checkpoints (fastgd/checkpoint.py): the file format, atomic writes, damaged and foreign
files, restoring optimizers bit for bit, and fit(checkpoint=, resume=)."""

from __future__ import annotations

import collections
import fractions
import json
import math
import os
import pathlib
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import backends, lr_scheduler
from fastgd.io import checkpoint
from fastgd.optim.registry import OPTIMIZERS

BACKENDS = backends.available()
DTYPES = (np.float32, np.float64)


# ---------------------------------------------------------------- helpers


def same(a, b, where="value"):
    """Assert ``a`` and ``b`` are equal to the bit, with the same types, recursively."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), where
        return
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert set(a) == set(b), (where, list(a), list(b))
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{k}]")
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), (where, a, b)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (where, a, b)
    else:
        assert a == b, (where, a, b)


def write_npz(path, **members):
    with open(path, "wb") as f:
        np.savez(f, **members)


def members_of(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def small_optimizer(dtype=np.float64, cls=fastgd.Adam, steps=3, **kw):
    rng = np.random.default_rng(5)
    params = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)]
    opt = cls(params, lr=0.01, **kw)
    for _ in range(steps):
        opt.step([rng.standard_normal(p.shape).astype(dtype) for p in params])
    return opt, params


# ---------------------------------------------------------------- values and the file


def test_values_come_back_with_their_types_and_bits(tmp_path):
    extra = dict(
        number=3, big=2**100, neg=-7, real=0.1, third=1 / 3, negzero=-0.0,
        nan=math.nan, inf=math.inf, minf=-math.inf, flag=True, none=None, text="ünï",
        pair=(1, 2.5, None), nested=[{"a": (1, [2, (3,)])}, []],
        int_keys={0: "a", 7: (1, 2), (1, 2): "tuple key", None: 1.5, True: 2},
        tag_like={"__tuple__": [1, 2]}, tag_like2={"__array__": "a0", "x": 1},
        counter=collections.Counter([3, 3, 5]), ordered=collections.OrderedDict(a=1),
        f32=np.float32(1.1), f64=np.float64(2.2), i64=np.int64(-5), b=np.bool_(True),
        zero_d=np.array(3.5), empty=np.zeros((0, 3)), bools=np.array([True, False]),
        ints=np.arange(5, dtype=np.int16), cplx=np.array([1 + 2j, -3j]),
        strs=np.array(["a", "bcd"]), fortran=np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        strided=np.arange(10.0)[::3], big_endian=np.arange(3, dtype=">f8"),
        in_list=[np.ones(2, np.float32), np.float32(0.5)],
    )
    path = tmp_path / "values.ckpt"
    fastgd.save(path, **extra)
    ckpt = fastgd.load(path)
    assert ckpt.params == [] and ckpt.optimizer_state is None and ckpt.optimizer_class is None
    extra["ordered"] = dict(extra["ordered"])  # other mappings come back as dicts
    for key, value in extra.items():
        got = ckpt.extra[key]
        if isinstance(value, float) and math.isnan(value):
            assert isinstance(got, float) and math.isnan(got)
        else:
            same(value if not isinstance(value, np.ndarray) else value, got, key)
    assert ckpt.extra["fortran"].flags.f_contiguous or ckpt.extra["fortran"].flags.c_contiguous
    assert ckpt.version == checkpoint.VERSION and ckpt.fastgd_version == fastgd.__version__
    assert "values.ckpt" in repr(ckpt)


def test_the_file_is_an_npz_numpy_reads_without_pickle(tmp_path):
    opt, params = small_optimizer()
    path = tmp_path / "plain.npz"
    fastgd.save(path, optimizer=opt, epoch=4)
    members = members_of(path)  # allow_pickle=False
    assert {"format", "meta", "checksum"} <= set(members)
    header = json.loads(members["format"].tobytes())
    assert header == {"format": "fastgd.checkpoint", "version": 1}
    meta = json.loads(members["meta"].tobytes())
    assert meta["optimizer"]["class"] == "Adam" and meta["extra"] == {"epoch": 4}
    assert all(m.dtype != object for m in members.values())
    assert len(members["checksum"]) == 64
    assert zipfile.is_zipfile(path)


def test_save_writes_the_name_given(tmp_path):
    fastgd.save(str(tmp_path / "x"), a=1)
    fastgd.save(tmp_path / "y.bin", a=1)
    assert sorted(os.listdir(tmp_path)) == ["x", "y.bin"]


def test_params_default_to_the_optimizers(tmp_path):
    opt, params = small_optimizer()
    fastgd.save(tmp_path / "c", optimizer=opt)
    ckpt = fastgd.load(tmp_path / "c")
    assert len(ckpt.params) == 2
    for a, b in zip(ckpt.params, params):
        same(a, b)
        assert a is not b


@pytest.mark.parametrize("bad,where", [
    (dict(fn=len), "fn"), (dict(obj=object()), "obj"), (dict(s={1, 2}), "s"),
    (dict(objs=np.array([1, None], dtype=object)), "objs"),
    (dict(deep={"a": [1, (2, lambda: 0)]}), "deep['a'][1][1]"),
    (dict(rec=np.zeros(2, dtype=[("x", "f8")])), "rec"),
    (dict(key={b"bytes": 1}), "key (a key)"),
])
def test_unsaveable_values_are_refused_before_writing(tmp_path, bad, where):
    path = tmp_path / "c"
    fastgd.save(path, a=1)
    before = path.read_bytes()
    with pytest.raises(TypeError) as info:
        fastgd.save(path, **bad)
    assert str(info.value).startswith(where + ":")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c"]


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(path=b"x"), TypeError, "path must be a str or os.PathLike"),
    (dict(path=3), TypeError, "path must be a str"),
    (dict(path=""), ValueError, "path must not be empty"),
    (dict(path="c", optimizer="adam"), TypeError, "optimizer must be a fastgd optimizer"),
    (dict(path="c", params=np.zeros(3)), TypeError, "params must be a list of arrays"),
    (dict(path="c", params=[np.zeros(3), [1.0]]), TypeError, r"params\[1\] must be a "),
])
def test_save_argument_errors(tmp_path, kwargs, exc, match):
    kwargs = dict(kwargs)
    if isinstance(kwargs["path"], str) and kwargs["path"]:
        kwargs["path"] = str(tmp_path / kwargs["path"])
    with pytest.raises(exc, match=match):
        fastgd.save(**kwargs)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- atomic writes


def _failing_savez(real):
    def savez(f, **members):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full (simulated)")
    return savez


@pytest.mark.parametrize("what", ["savez", "fsync", "replace"])
def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch, what):
    path = tmp_path / "run.ckpt"
    opt, params = small_optimizer()
    fastgd.save(path, optimizer=opt, epoch=1)
    before = path.read_bytes()
    opt.step([np.ones_like(p) for p in params])
    if what == "savez":
        monkeypatch.setattr(checkpoint.np, "savez", _failing_savez(np.savez))
    elif what == "fsync":
        def fsync(fd):
            raise OSError("I/O error (simulated)")
        monkeypatch.setattr(checkpoint.os, "fsync", fsync)
    else:
        def replace(a, b):
            raise PermissionError("rename refused (simulated)")
        monkeypatch.setattr(checkpoint.os, "replace", replace)
    with pytest.raises(OSError, match="simulated"):
        fastgd.save(path, optimizer=opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]  # the temporary file is gone
    assert fastgd.load(path).extra == {"epoch": 1}


def test_a_failed_first_save_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint.np, "savez", _failing_savez(np.savez))
    with pytest.raises(OSError):
        fastgd.save(tmp_path / "new.ckpt", a=1)
    assert os.listdir(tmp_path) == []


def test_a_crash_during_a_save_leaves_the_previous_file(tmp_path):
    """The process dies (os._exit) half-way through writing: the old checkpoint is still
    there and loads; only the temporary file is left behind."""
    path = tmp_path / "run.ckpt"
    fastgd.save(path, epoch=1, data=np.arange(1000.0))
    before = path.read_bytes()
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastgd.__file__)))
    code = textwrap.dedent(f"""
        import os, numpy as np, fastgd
        from fastgd.io import checkpoint
        def savez(f, **members):
            f.write(b"PK\\x03\\x04" + bytes(5000))
            f.flush()
            os._exit(3)
        checkpoint.np.savez = savez
        fastgd.save({str(path)!r}, epoch=2, data=np.zeros(1000))
    """)
    env = dict(os.environ, PYTHONPATH=root)
    # from tmp_path: in the checkout's root, "-c" would import its uncompiled fastgd/
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert path.read_bytes() == before
    assert fastgd.load(path).extra["epoch"] == 1
    leftovers = [n for n in os.listdir(tmp_path) if n != "run.ckpt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".run.ckpt.")
    assert leftovers[0].endswith(".tmp")


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "c"
    for epoch in range(3):
        fastgd.save(path, epoch=epoch)
    assert fastgd.load(path).extra == {"epoch": 2}
    assert os.listdir(tmp_path) == ["c"]


# ---------------------------------------------------------------- damaged and foreign files


@pytest.fixture
def saved(tmp_path):
    opt, params = small_optimizer(cls=fastgd.NAdam)
    path = tmp_path / "good.ckpt"
    fastgd.save(path, optimizer=opt, epoch=3, table=np.arange(12.0).reshape(3, 4))
    return path


def _same_checkpoint(a, b):
    same(a.params, b.params)
    same(a.optimizer_state, b.optimizer_state)
    same(a.extra, b.extra)
    assert a.optimizer_class == b.optimizer_class


@pytest.mark.parametrize("keep", [0, 1, 10, 100, 0.5, -22, -1])
def test_truncated_files_are_refused(saved, tmp_path, keep):
    data = saved.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(data[:n])
    with pytest.raises(ValueError, match="cannot load checkpoint .*cut.ckpt"):
        fastgd.load(bad)


def test_every_bit_flip_is_refused_or_harmless(saved, tmp_path):
    """Flip one bit at a time all over the file: each load either refuses it with a
    ValueError or (a flip in a part of the zip that carries no data, such as a
    timestamp) returns exactly the original contents."""
    data = bytearray(saved.read_bytes())
    good = fastgd.load(saved)
    bad = tmp_path / "flipped.ckpt"
    refused = harmless = 0
    for pos in range(0, len(data), 3):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << (pos % 8)
        bad.write_bytes(bytes(flipped))
        try:
            ckpt = fastgd.load(bad)
        except ValueError as exc:
            assert "flipped.ckpt" in str(exc)
            refused += 1
            continue
        _same_checkpoint(ckpt, good)
        harmless += 1
    assert refused > 0.8 * (refused + harmless)


def test_a_modified_entry_fails_the_checksum(saved, tmp_path):
    """A valid zip whose array was changed (and the zip's own CRC with it): only the
    checksum notices."""
    members = members_of(saved)
    name = next(k for k, v in members.items() if v.dtype == np.float64 and v.size == 12)
    members[name] = members[name].copy()
    members[name][1, 2] = np.nextafter(members[name][1, 2], np.inf)
    bad = tmp_path / "edited.ckpt"
    write_npz(bad, **members)
    with pytest.raises(ValueError, match="edited.ckpt.*checksum does not match"):
        fastgd.load(bad)
    members = members_of(saved)
    members["extra_entry"] = np.zeros(1)
    write_npz(bad, **members)
    with pytest.raises(ValueError, match="checksum does not match"):
        fastgd.load(bad)
    members = members_of(saved)
    members["meta"] = np.frombuffer(members["meta"].tobytes().replace(b'"epoch":3',
                                                                      b'"epoch":4'),
                                    dtype=np.uint8)
    write_npz(bad, **members)
    with pytest.raises(ValueError, match="checksum does not match"):
        fastgd.load(bad)


def _rewrite(saved, bad, **changes):
    members = members_of(saved)
    members.update(changes)
    members.pop("checksum")
    members["checksum"] = np.frombuffer(checkpoint._checksum(members).encode(), np.uint8)
    write_npz(bad, **members)


def _text(obj):
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def test_a_newer_format_version_is_refused(saved, tmp_path):
    bad = tmp_path / "future.ckpt"
    _rewrite(saved, bad, format=_text({"format": "fastgd.checkpoint", "version": 2}))
    with pytest.raises(ValueError, match=r"future.ckpt.*format version 2 by a newer fastgd.*"
                                         r"up to 1"):
        fastgd.load(bad)
    _rewrite(saved, bad, format=_text({"format": "fastgd.checkpoint", "version": "1"}))
    with pytest.raises(ValueError, match="format version '1' is not valid"):
        fastgd.load(bad)


def test_malformed_metadata_is_refused(saved, tmp_path):
    bad = tmp_path / "meta.ckpt"
    _rewrite(saved, bad, meta=_text({"params": [{"__array__": "a99"}], "optimizer": None,
                                     "extra": {}}))
    with pytest.raises(ValueError, match="metadata is malformed"):
        fastgd.load(bad)
    _rewrite(saved, bad, meta=np.frombuffer(b"\xff{", np.uint8))
    with pytest.raises(ValueError, match="'meta' entry is not JSON"):
        fastgd.load(bad)


def test_foreign_files_are_refused(tmp_path):
    cases = {
        "other.npz": lambda p: write_npz(p, weights=np.ones(3)),
        "empty.npz": lambda p: write_npz(p),
        "array.npy": lambda p: np.save(p, np.ones(3)),
        "random.bin": lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
        "text.txt": lambda p: p.write_text("hello"),
        "empty.bin": lambda p: p.write_bytes(b""),
        "zip.zip": lambda p: zipfile.ZipFile(p, "w").writestr("a.txt", "x"),
        "format_only.npz": lambda p: write_npz(p, format=_text({"format": "other",
                                                                 "version": 1})),
        "format_float.npz": lambda p: write_npz(p, format=np.ones(3)),
    }
    for name, make in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(ValueError, match=f"cannot load checkpoint .*{name}") as info:
            fastgd.load(path)
        assert "Traceback" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        fastgd.load(tmp_path / "missing.ckpt")
    with pytest.raises(TypeError, match="path must be"):
        fastgd.load(None)


class _Marker:
    """Unpickling this creates a file: the proof that code ran on load."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_an_entry_that_needs_pickle_is_refused_and_runs_nothing(saved, tmp_path):
    marker = tmp_path / "code-ran"
    bad = tmp_path / "pickled.ckpt"
    members = members_of(saved)
    members["a0"] = np.array([_Marker(str(marker))], dtype=object)
    write_npz(bad, **members)  # savez pickles the object array
    with pytest.raises(ValueError, match="pickled.ckpt.*needs pickle"):
        fastgd.load(bad)
    foreign = tmp_path / "foreign_pickled.npz"
    write_npz(foreign, x=np.array([_Marker(str(marker))], dtype=object))
    with pytest.raises(ValueError, match="not a fastgd checkpoint"):
        fastgd.load(foreign)
    pickled = tmp_path / "plain.pickle"
    np.save(pickled, np.array([_Marker(str(marker))], dtype=object), allow_pickle=True)
    pickled = tmp_path / "plain.pickle.npy"
    with pytest.raises(ValueError, match="plain.pickle.npy"):
        fastgd.load(pickled)
    assert not marker.exists()


# ---------------------------------------------------------------- restore


def test_restore_into_a_new_optimizer_and_its_parameters(tmp_path):
    opt, params = small_optimizer(cls=fastgd.AdamW, amsgrad=True)
    fastgd.save(tmp_path / "c", optimizer=opt)
    fresh = [np.zeros_like(p) for p in params]
    opt2 = fastgd.AdamW(fresh, lr=0.5)
    ckpt = fastgd.load(tmp_path / "c")
    ckpt.restore(optimizer=opt2)
    same(fresh, params)
    same(opt2.state_dict(), opt.state_dict())
    assert opt2.param_groups[0]["lr"] == 0.01  # the saved hyperparameters
    fresh[0][...] = 7  # the checkpoint keeps its own arrays
    ckpt.restore(params=fresh)
    same(fresh, params)


def test_restore_with_explicit_params(tmp_path):
    opt, params = small_optimizer()
    extra = np.arange(3.0)
    fastgd.save(tmp_path / "c", optimizer=opt, params=[extra])
    ckpt = fastgd.load(tmp_path / "c")
    mine = [np.zeros_like(p) for p in params]
    opt2 = fastgd.Adam(mine)
    ckpt.restore(optimizer=opt2)  # the saved arrays are not the optimizer's: not copied
    assert all((p == 0).all() for p in mine)
    same(opt2.state_dict()["state"], opt.state_dict()["state"])
    target = np.zeros(3)
    ckpt.restore(params=[target])
    same(target, extra)
    # the optimizer's own params given explicitly are recognised as its params
    fastgd.save(tmp_path / "d", optimizer=opt, params=params)
    fastgd.load(tmp_path / "d").restore(optimizer=opt2)
    same(mine, params)


def _snapshot(opt, arrays):
    return opt.state_dict(), [a.copy() for a in arrays]


@pytest.mark.parametrize("case", ["class", "shape", "dtype", "count", "groups",
                                  "readonly", "params_shape", "params_count",
                                  "hyperparameter", "not_optimizer", "nothing",
                                  "no_state"])
def test_restore_checks_everything_before_it_writes(tmp_path, case):
    opt, params = small_optimizer(steps=2)
    path = tmp_path / "c"
    fastgd.save(path, optimizer=opt)
    ckpt = fastgd.load(path)
    rng = np.random.default_rng(1)
    mine = [rng.standard_normal(p.shape) for p in params]
    cls, target_params = fastgd.Adam, None
    if case == "class":
        cls = fastgd.AdamW
    elif case == "shape":
        mine[0] = rng.standard_normal((4, 3))
    elif case == "dtype":
        mine[1] = mine[1].astype(np.float32)
    elif case == "count":
        mine.append(np.zeros(2))
    elif case == "groups":
        pass
    elif case == "readonly":
        target_params = [np.zeros_like(p) for p in params]
        target_params[1].flags.writeable = False
    elif case == "params_shape":
        target_params = [np.zeros((3, 4)), np.zeros(5)]
    elif case == "params_count":
        target_params = [np.zeros((3, 4))]
    elif case == "hyperparameter":
        ckpt.optimizer_state["param_groups"][0]["lr"] = -1.0
    elif case == "no_state":
        fastgd.save(path, params=params)
        ckpt = fastgd.load(path)
    opt2 = (cls([{"params": mine[:1]}, {"params": mine[1:]}]) if case == "groups"
            else cls(mine))
    opt2.step([np.ones_like(p) for p in mine])
    before = _snapshot(opt2, mine + (target_params or []))
    messages = {"class": "state of a Adam optimizer, not of a AdamW",
                "shape": "parameter 0 was float64 of shape \\(3, 4\\)",
                "dtype": "parameter 1 was float64 of shape \\(4,\\), this one's is float32",
                "count": "groups of sizes \\[2\\], this one has \\[3\\]",
                "groups": "groups of sizes \\[2\\], this one has \\[1, 1\\]",
                "readonly": "params\\[1\\] is read-only",
                "params_shape": "array 1 was float64 of shape \\(4,\\)",
                "params_count": "holds 2 arrays, got 1",
                "hyperparameter": "Invalid learning rate: -1.0",
                "not_optimizer": "optimizer must be a fastgd optimizer",
                "nothing": "restore\\(\\) needs optimizer= or params=",
                "no_state": "holds no optimizer state"}
    exc = TypeError if case in ("not_optimizer", "nothing") else ValueError
    with pytest.raises(exc, match=messages[case]):
        if case == "not_optimizer":
            ckpt.restore(optimizer="adam")
        elif case == "nothing":
            ckpt.restore()
        else:
            ckpt.restore(optimizer=opt2, params=target_params)
    after = _snapshot(opt2, mine + (target_params or []))
    same(after, before)


# ---------------------------------------------------------------- resuming optimizers


SHAPES = ((3, 4), (5,), (2, 3, 2), (1,))
N_STEPS, SPLIT = 23, 11


def _variants():
    """(backend, optimizer, options): on the active backend the defaults and every option
    set of the registry; on the other backends installed (each is the active one in a
    run of the suite of its own), the defaults and the registry's last option set."""
    cases = []
    for backend in BACKENDS:
        for name, spec in OPTIMIZERS.items():
            variants = ({},) + tuple(OPTIM_DB[spec.name])
            for k, variant in enumerate(variants):
                if backend == fastgd.backend() or k in (0, len(variants) - 1):
                    cases.append(pytest.param(backend, name, variant,
                                              id=f"{backend}-{name}-{k}"))
    return cases


def _problem(dtype):
    rng = np.random.default_rng(11)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    targets = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    noise = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(N_STEPS)]
    return start, targets, noise


def _build(name, variant, params):
    cls = getattr(fastgd, name)
    options = dict(variant)
    lr = options.pop("lr", OPTIMIZERS[name].defaults["lr"])
    if name == "ASGD":
        options.setdefault("t0", 5.0)  # averaging starts within the run
    return cls([{"params": params[:2]}, {"params": params[2:], "lr": lr * 0.5}], lr=lr,
               **options)


def _grads(t, params, targets, noise):
    grads = []
    for k, (p, c, e) in enumerate(zip(params, targets, noise[t])):
        if k == 1 and t % 3 == 2:
            grads.append(None)  # its state lags behind the others'
        else:
            grads.append((p - c) * p.dtype.type(0.5) + e)
    return grads


def _advance(opt, t, params, targets, noise):
    opt.step(_grads(t, params, targets, noise))
    if hasattr(opt, "hessian_due") and opt.hessian_due():
        opt.update_hessian([np.abs(e) for e in noise[(t * 7) % N_STEPS]])


def _averages(opt):
    return opt.averaged() if hasattr(opt, "averaged") else None


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("backend,name,variant", _variants())
def test_a_resumed_optimizer_continues_with_the_same_bits(tmp_path, backend, dtype, name,
                                                          variant):
    start, targets, noise = _problem(dtype)
    with fastgd.use_backend(backend):
        ref = [p.copy() for p in start]
        opt = _build(name, variant, ref)
        for t in range(SPLIT):
            _advance(opt, t, ref, targets, noise)
        path = tmp_path / "opt.ckpt"
        fastgd.save(path, optimizer=opt, t=SPLIT)
        at_split = opt.state_dict()
        for t in range(SPLIT, N_STEPS):
            _advance(opt, t, ref, targets, noise)

        resumed = [np.full_like(p, 9.0) for p in start]
        opt2 = _build(name, variant, resumed)
        opt2.step([np.ones_like(p) for p in resumed])  # some state to be replaced
        ckpt = fastgd.load(path)
        ckpt.restore(optimizer=opt2)
        same(opt2.state_dict(), at_split)
        for t in range(ckpt.extra["t"], N_STEPS):
            _advance(opt2, t, resumed, targets, noise)
    same(resumed, ref)
    same(opt2.state_dict(), opt.state_dict())
    same(_averages(opt2), _averages(opt))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["SGDScheduleFree", "AdamWScheduleFree"])
def test_schedule_free_eval_mode_survives_the_round_trip(tmp_path, backend, name):
    start, targets, noise = _problem(np.float64)
    with fastgd.use_backend(backend):
        ref = [p.copy() for p in start]
        opt = _build(name, {"lr": 0.1, "warmup_steps": 3}, ref)
        for t in range(SPLIT):
            _advance(opt, t, ref, targets, noise)
        opt.eval()  # checkpoint the averaged point x, as the package suggests
        fastgd.save(tmp_path / "c", optimizer=opt)
        x = [p.copy() for p in ref]
        opt.train()
        for t in range(SPLIT, N_STEPS):
            _advance(opt, t, ref, targets, noise)

        resumed = [np.zeros_like(p) for p in start]
        opt2 = _build(name, {"lr": 0.1, "warmup_steps": 3}, resumed)
        fastgd.load(tmp_path / "c").restore(optimizer=opt2)
        assert all(g["train_mode"] is False for g in opt2.param_groups)
        same(resumed, x)
        with pytest.raises(RuntimeError, match="eval mode"):
            opt2.step([np.ones_like(p) for p in resumed])
        opt2.train()
        for t in range(SPLIT, N_STEPS):
            _advance(opt2, t, resumed, targets, noise)
        same(resumed, ref)
        opt.eval()
        opt2.eval()
        same(resumed, ref)


def test_sophia_hessian_and_asgd_averages_are_in_the_file(tmp_path):
    start, targets, noise = _problem(np.float64)
    params = [p.copy() for p in start]
    opt = _build("Sophia", {"update_interval": 2}, params)
    for t in range(4):
        _advance(opt, t, params, targets, noise)
    fastgd.save(tmp_path / "s", optimizer=opt)
    state = fastgd.load(tmp_path / "s").optimizer_state["state"]
    assert all(np.any(s["hessian"] != 0) for s in state.values())
    params = [p.copy() for p in start]
    opt = _build("ASGD", {"t0": 1.0}, params)
    for t in range(4):
        _advance(opt, t, params, targets, noise)
    fastgd.save(tmp_path / "a", optimizer=opt)
    ckpt = fastgd.load(tmp_path / "a")
    other = [np.zeros_like(p) for p in start]
    opt2 = _build("ASGD", {"t0": 1.0}, other)
    ckpt.restore(optimizer=opt2)
    same(opt2.averaged(), opt.averaged())
    assert type(ckpt.optimizer_state["state"][0]["eta"]) is float


def test_adafactor_factored_state_shapes(tmp_path):
    start, targets, noise = _problem(np.float32)
    params = [p.copy() for p in start]
    opt = _build("Adafactor", {}, params)
    for t in range(3):
        _advance(opt, t, params, targets, noise)
    fastgd.save(tmp_path / "f", optimizer=opt)
    state = fastgd.load(tmp_path / "f").optimizer_state["state"]
    assert state[0]["row_var"].shape == (3, 1) and state[0]["col_var"].shape == (1, 4)
    assert state[2]["row_var"].shape == (2, 3, 1) and state[2]["col_var"].shape == (2, 1, 2)
    assert state[1]["variance"].shape == (5,) and state[0]["row_var"].dtype == np.float32


# ---------------------------------------------------------------- fit: checkpoint and resume


def regression(n=203, d=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ np.linspace(-1, 2, d) + 0.3 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def classes(n=180, d=3, k=3, seed=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = 2 * rng.standard_normal((k, d))[y] + rng.standard_normal((n, d))
    return X.astype(dtype), y


def _history(h):
    d = h.as_dict()
    d.pop("time")
    out = dict(rows=d, converged=h.converged, stop_reason=h.stop_reason, n_steps=h.n_steps)
    if h.steps is not None:
        out["steps"] = h.steps.as_dict()
    return out


def _fit(make_model, X, y, epochs, **kw):
    model = make_model()
    kw = dict(kw)
    if isinstance(kw.get("random_state"), tuple):  # a fresh Generator per run
        kw["random_state"] = np.random.default_rng(kw["random_state"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastgd.ConvergenceWarning)
        history = fastgd.fit(model, X, y, epochs=epochs, **kw)
    return model, history, kw.get("random_state")


def _final_state(path):
    """Everything a fit's last checkpoint holds, but the times."""
    ckpt = fastgd.load(path)
    state = dict(ckpt.extra["fit"])
    state["history"] = {k: v for k, v in state["history"].items() if k != "time"}
    return dict(params=ckpt.params, optimizer=ckpt.optimizer_state, fit=state)


def _check_resume(tmp_path, make_model, X, y, epochs, splits, **kw):
    """fit for ``epochs`` in one go, and in pieces ending at each of ``splits`` then
    resumed to ``epochs``: the same bits, in the model, the history and the state of the
    run at its end (optimizer, schedulers, generator, counters: the last checkpoint)."""
    ref_path = tmp_path / "reference.ckpt"
    ref, href, gref = _fit(make_model, X, y, epochs, checkpoint=ref_path, **kw)
    path = tmp_path / "fit.ckpt"
    model, h, g = _fit(make_model, X, y, splits[0], checkpoint=path, **kw)
    for k in list(splits[1:]) + [epochs]:
        model, h, g = _fit(make_model, X, y, k, checkpoint=path, resume=path, **kw)
    same(model.coef_, ref.coef_, "coef_")
    same(model.intercept_, ref.intercept_, "intercept_")
    same(_history(h), _history(href))
    same(_final_state(path), _final_state(ref_path))
    if isinstance(gref, np.random.Generator):
        same(g.bit_generator.state, gref.bit_generator.state)
    return ref, href


FIT_CASES = {
    "sgd-fused": dict(optimizer="sgd", lr=0.02, batch_size=16,
                      optimizer_kwargs=dict(momentum=0.9, nesterov=True),
                      schedule=lambda o: lr_scheduler.MultiStepLR(o, [2, 5, 5], 0.5)),
    "adam-fused-early": dict(optimizer="adam", lr=0.02, batch_size=20, early_stopping=True,
                             tol=1e-12, schedule=lambda o: lr_scheduler.StepLR(o, 2, 0.5)),
    "adamw-plateau": dict(optimizer="adamw", lr=0.05, batch_size=32,
                          schedule=lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0)),
    "sophia-hessian-at-epoch-end": dict(optimizer="sophia", lr=0.02, batch_size=40,
                                        optimizer_kwargs=dict(update_interval=5)),
    "schedule-free": dict(optimizer="adamwschedulefree", lr=0.05, batch_size=25,
                          optimizer_kwargs=dict(warmup_steps=5)),
    "asgd-invscaling": dict(optimizer="asgd", lr=0.05, batch_size=16,
                            schedule="invscaling", optimizer_kwargs=dict(t0=20.0)),
    "nadam-clip-record": dict(optimizer="nadam", lr=0.05, batch_size=16, clip_norm=1.0,
                              clip_value=0.5, record_steps=True),
    "rprop-full-batch-gtol": dict(optimizer="rprop", lr=0.01, batch_size=None, gtol=1e-12),
    "adam-onecycle-weights-generator": dict(optimizer="adam", lr=0.1, batch_size=30,
                                      random_state=(4,), shuffle=True,
                                      schedule=lambda o: lr_scheduler.OneCycleLR(
                                          o, max_lr=0.3, total_steps=9)),
    "sgd-optimal-no-shuffle": dict(optimizer="sgd", lr=0.01, batch_size=50, shuffle=False,
                                   schedule="optimal"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit_resumed_equals_uninterrupted(tmp_path, case, dtype):
    kw = dict(random_state=7, **FIT_CASES[case]) if "random_state" not in FIT_CASES[case] \
        else dict(FIT_CASES[case])
    X, y = regression(dtype=dtype)
    penalty = {}
    if case == "sgd-optimal-no-shuffle":
        penalty = dict(loss="huber", penalty="l2", alpha=1e-2)
    if case == "adam-onecycle-weights-generator":
        kw["sample_weight"] = np.random.default_rng(3).uniform(0, 2, X.shape[0])
    if case == "sophia-hessian-at-epoch-end":
        # 203 rows, batches of 40: 6 steps an epoch, so every epoch ends with a refresh due
        # 180 rows, batches of 40: 5 steps an epoch, a refresh due at every epoch's end
        X, y = classes(dtype=dtype)
        _check_resume(tmp_path, lambda: fastgd.SoftmaxRegression(), X, y, 5, (2, 3), **kw)
        assert fastgd.load(tmp_path / "fit.ckpt").extra["fit"]["hess_next"] is True
        return
    _check_resume(tmp_path, lambda: fastgd.LinearRegression(**penalty), X, y, 9, (3, 4, 8),
                  **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_resumed_on_every_backend(tmp_path, backend):
    X, y = classes()
    with fastgd.use_backend(backend):
        for optimizer, kwargs in [("adam", {}), ("sgd", dict(momentum=0.5)),
                                  ("adafactor", {})]:
            _check_resume(tmp_path, lambda: fastgd.SoftmaxRegression(penalty="l2",
                                                                      alpha=1e-3),
                          X, y, 6, (2,), optimizer=optimizer, lr=0.05, batch_size=16,
                          random_state=1, early_stopping=True, optimizer_kwargs=kwargs)


def test_fit_checkpoint_holds_the_run_after_each_epoch(tmp_path):
    X, y = regression()
    path = tmp_path / "fit.ckpt"
    seen = []

    def cb(epoch, history, model):
        if path.exists():
            seen.append(fastgd.load(path).extra["fit"]["epoch"])
        return False

    model = fastgd.LinearRegression()
    h = model.fit(X, y, optimizer="adam", lr=0.05, epochs=4, random_state=0,
                  checkpoint=str(path), callbacks=[cb]).history_
    assert seen == [1, 2, 3]  # each epoch's file is written after its callbacks
    ckpt = fastgd.load(path)
    state = ckpt.extra["fit"]
    assert state["epoch"] == 4 and state["n_steps"] == h.n_steps
    assert ckpt.optimizer_class == "Adam"
    same(ckpt.params, [model.coef_, model.intercept_])
    assert os.listdir(tmp_path) == ["fit.ckpt"]


def test_fit_resume_after_a_callback_stop_goes_on(tmp_path):
    X, y = regression()
    kw = dict(optimizer="sgd", lr=0.01, random_state=2, tol=1e-9)
    ref, href, _ = _fit(fastgd.LinearRegression, X, y, 8, **kw)
    path = tmp_path / "c"
    stopper = lambda epoch, history, model: epoch == 2  # noqa: E731
    model, h, _ = _fit(fastgd.LinearRegression, X, y, 8, checkpoint=path,
                       callbacks=[stopper], **kw)
    assert len(h) == 3 and h.stop_reason == "callback"
    model, h, _ = _fit(fastgd.LinearRegression, X, y, 8, resume=path, **kw)
    same(model.coef_, ref.coef_)
    same(_history(h), _history(href))


def test_fit_resume_of_a_converged_run_runs_nothing_more(tmp_path):
    X, y = regression()
    kw = dict(optimizer="sgd", lr=0.05, random_state=2, tol=1e-2, n_iter_no_change=2)
    path = tmp_path / "c"
    model, h, _ = _fit(fastgd.LinearRegression, X, y, 50, checkpoint=path, **kw)
    assert h.converged and h.stop_reason == "tol" and len(h) < 50
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model2 = fastgd.LinearRegression()
        h2 = fastgd.fit(model2, X, y, epochs=80, resume=path,
                        callbacks=[lambda *a: calls.append(a)], **kw)
    assert calls == []
    same(model2.coef_, model.coef_)
    same(_history(h2), _history(h))


def test_fit_resume_reaches_the_same_divergence(tmp_path):
    """Full batches: the divergence comes at the first batch of an epoch, right after a
    checkpoint, and the model is left at the saved copy of the parameters before the
    step that led there (from the previous epoch)."""
    X, y = regression()
    X = X * 1e10  # the loss overflows after 9 epochs
    kw = dict(optimizer="sgd", lr=0.01, batch_size=None, random_state=0)
    ref = fastgd.LinearRegression()
    with pytest.raises(FloatingPointError) as info:
        fastgd.fit(ref, X, y, epochs=50, **kw)
    epoch = int(info.value.args[0].split("epoch ")[1].split(",")[0])
    assert epoch == 9
    path = tmp_path / "c"
    model = fastgd.LinearRegression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastgd.fit(model, X, y, epochs=epoch, checkpoint=path, **kw)
    with pytest.raises(FloatingPointError) as info2:
        fastgd.fit(model, X, y, epochs=50, resume=path, **kw)
    assert str(info2.value) == str(info.value)
    same(model.coef_, ref.coef_)
    same(model.intercept_, ref.intercept_)


def test_fit_resume_sets_a_given_generator(tmp_path):
    X, y = regression()
    path = tmp_path / "c"
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=5, checkpoint=path)
    g = np.random.default_rng(999)
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=g, resume=path)
    assert g.bit_generator.state == fastgd.load(path).extra["fit"]["rng"]
    with pytest.raises(ValueError, match="generator was a PCG64, random_state is a "
                                         "Generator of MT19937"):
        fastgd.fit(fastgd.LinearRegression(), X, y, epochs=3, resume=path,
                   random_state=np.random.Generator(np.random.MT19937(1)))


def _warm_model(X, y):
    model = fastgd.LinearRegression()
    fastgd.fit(model, X, y, epochs=1, random_state=0)
    return model


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(checkpoint=3), TypeError, "checkpoint must be a str or os.PathLike path, got 3"),
    (dict(checkpoint=b"x"), TypeError, "checkpoint must be a str"),
    (dict(checkpoint="{tmp}/missing/dir/c"), ValueError, "directory .* does not exist"),
    (dict(checkpoint="{tmp}"), ValueError, "is a directory"),
    (dict(resume=1.5), TypeError, "resume must be a str or os.PathLike path, got 1.5"),
    (dict(resume="{tmp}/nothing"), FileNotFoundError, "nothing"),
    (dict(resume="{tmp}/plain"), ValueError, "not one written by fastgd.fit"),
    (dict(resume="{tmp}/broken"), ValueError, "cannot load checkpoint"),
    (dict(resume="{tmp}/run", batch_size=16), ValueError,
     "written by a run with batch_size=32; this call has batch_size=16"),
    (dict(resume="{tmp}/run", optimizer="adam"), ValueError,
     "with optimizer='SGD'; this call has optimizer='Adam'"),
    (dict(resume="{tmp}/run", lr=0.02), ValueError, "lr=0.01; this call has lr=0.02"),
    (dict(resume="{tmp}/run", optimizer_kwargs=dict(momentum=0.1)), ValueError,
     "optimizer_kwargs="),
    (dict(resume="{tmp}/run", epochs=1), ValueError, "after 2 epochs, more than epochs=1"),
    (dict(resume="{tmp}/run", schedule=lambda o: lr_scheduler.StepLR(o, 2)), ValueError,
     "schedule=None; this call has schedule='a callable'"),
    (dict(resume="{tmp}/run", data="features"), ValueError,
     "n_features=4; this call has n_features=3"),
    (dict(resume="{tmp}/run", data="float32"), ValueError, "dtype='float64'"),
    (dict(resume="{tmp}/run", model="penalty"), ValueError, "penalty=None"),
    (dict(resume="{tmp}/sched", schedule=lambda o: lr_scheduler.ExponentialLR(o, 0.9)),
     ValueError, "epoch scheduler was StepLR, this call's is ExponentialLR"),
    (dict(checkpoint="{tmp}/c", schedule=lambda o: _Unsaveable(o)), TypeError,
     "the scheduler's state"),
    (dict(checkpoint="{tmp}/c", optimizer_kwargs=dict(momentum=fractions.Fraction(1, 2))),
     TypeError, "optimizer_kwargs\\['momentum'\\]: a Fraction cannot"),
])
def test_fit_checkpoint_arguments_are_checked_before_the_model_changes(tmp_path, kwargs,
                                                                       exc, match):
    X, y = regression()
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=0,
               checkpoint=tmp_path / "run")
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=0,
               checkpoint=tmp_path / "sched", schedule=lambda o: lr_scheduler.StepLR(o, 2))
    fastgd.save(tmp_path / "plain", a=1)
    (tmp_path / "broken").write_bytes((tmp_path / "run").read_bytes()[:-50])
    kwargs = {k: v.format(tmp=tmp_path) if isinstance(v, str) and "{tmp}" in v else v
              for k, v in kwargs.items()}
    data = kwargs.pop("data", None)
    if data == "features":
        X = X[:, :3].copy()
    elif data == "float32":
        X, y = X.astype(np.float32), y.astype(np.float32)
    model = _warm_model(X, y)
    if kwargs.pop("model", None) == "penalty":
        model.penalty, model.alpha = "l2", 1e-3
    coef, intercept = model.coef_, model.intercept_
    before = (coef.copy(), intercept.copy(), model.history_)
    files = sorted(os.listdir(tmp_path))
    kwargs.setdefault("epochs", 3)
    with pytest.raises(exc, match=match):
        fastgd.fit(model, X, y, random_state=0, **kwargs)
    assert model.coef_ is coef and model.intercept_ is intercept
    same(coef, before[0])
    same(intercept, before[1])
    assert model.history_ is before[2]
    assert sorted(os.listdir(tmp_path)) == files


class _Unsaveable(lr_scheduler.StepLR):
    def __init__(self, optimizer):
        self.hook = object()
        super().__init__(optimizer, 2)


def test_fit_resume_from_a_checkpoint_of_another_model_shape(tmp_path):
    X, y = classes(k=3)
    fastgd.fit(fastgd.SoftmaxRegression(), X, y, epochs=2, checkpoint=tmp_path / "c")
    y4 = y.copy()
    y4[0] = 3  # four classes now: the coefficients are (3, 4)
    model = fastgd.SoftmaxRegression()
    with pytest.raises(ValueError, match="the run's parameters were float64 \\(3, 3\\), "
                                         "float64 \\(3,\\); this model's are float64 "
                                         "\\(3, 4\\), float64 \\(4,\\)"):
        fastgd.fit(model, X, y4, epochs=3, resume=tmp_path / "c")
    assert model.coef_ is None


def test_fit_resume_on_a_path_like_and_the_same_file(tmp_path):
    X, y = regression()
    path = pathlib.Path(tmp_path) / "same.ckpt"
    m = fastgd.LinearRegression().fit(X, y, epochs=1, random_state=3, checkpoint=path)
    m = fastgd.LinearRegression().fit(X, y, epochs=3, random_state=3, checkpoint=path,
                                      resume=path)
    assert fastgd.load(path).extra["fit"]["epoch"] == 3
    assert len(m.history_) == 3
