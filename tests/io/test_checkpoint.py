"""Checkpoints (fastgd/io/checkpoint.py): the values and the file format, atomic writes,
damaged and foreign files, and restoring a checkpoint into an optimizer and its
parameters."""

from __future__ import annotations

import collections
import json
import math
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from _problems import same

import fastgd
from fastgd.io import checkpoint


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
