"""ParamBuffer: one contiguous array, views per parameter, same bits as separate arrays."""

from __future__ import annotations

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd.optim.registry import GRADIENT_STEP

SHAPES = [(4, 3), (3,), (), (0,), (2, 2, 2)]


def test_layout_and_views():
    buf = fastgd.ParamBuffer(SHAPES, np.float32)
    assert buf.flat.shape == (12 + 3 + 1 + 0 + 8,) and buf.dtype == np.float32
    assert [v.shape for v in buf] == SHAPES and len(buf) == 5
    for v in buf.views:
        assert v.flags.c_contiguous and v.flags.writeable and np.shares_memory(v, buf.flat) \
            or v.size == 0
    buf.views[1][...] = 7
    assert (buf.flat[12:15] == 7).all() and (buf.flat[:12] == 0).all()
    assert "5 parameters" in repr(buf)


def test_from_arrays_and_zeros_like():
    arrays = [np.arange(6.0).reshape(2, 3), np.array([9.0])]
    buf = fastgd.ParamBuffer.from_arrays(arrays)
    np.testing.assert_array_equal(buf.flat, [0, 1, 2, 3, 4, 5, 9])
    grads = buf.zeros_like()
    assert grads.shapes == buf.shapes and (grads.flat == 0).all()
    assert not np.shares_memory(grads.flat, buf.flat)
    with pytest.raises(TypeError, match="several dtypes"):
        fastgd.ParamBuffer.from_arrays([np.zeros(2), np.zeros(2, np.float32)])
    assert fastgd.ParamBuffer.from_arrays(arrays, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("shapes,error,pattern", [
    ([(2, -1)], ValueError, "whole numbers >= 0"),
    ([(2.5,)], ValueError, "whole numbers >= 0"),
    ([None], TypeError, "tuple of sizes"),
    ("abc", TypeError, "list of shapes"),
])
def test_bad_shapes(shapes, error, pattern):
    with pytest.raises(error, match=pattern):
        fastgd.ParamBuffer(shapes)


def test_bad_dtype():
    with pytest.raises(TypeError, match="float32 or float64"):
        fastgd.ParamBuffer([(2,)], np.int32)


@pytest.mark.parametrize("name", [n for n, s in GRADIENT_STEP.items() if s.elementwise])
def test_a_flat_step_equals_steps_on_the_separate_arrays(name):
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(s) for s in SHAPES]
    variant = OPTIM_DB[name][-1]
    separate = [a.copy() for a in start]
    opt_a = getattr(fastgd, name)(separate, **variant)
    params = fastgd.ParamBuffer.from_arrays(start)
    grads = params.zeros_like()
    opt_b = getattr(fastgd, name)([params.flat], **variant)
    for _ in range(10):
        gs = [rng.standard_normal(s) for s in SHAPES]
        opt_a.step(gs)
        for view, g in zip(grads.views, gs):
            view[...] = g
        opt_b.step([grads.flat])
    for a, b in zip(separate, params.views):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", [n for n, s in GRADIENT_STEP.items() if not s.elementwise])
def test_per_tensor_statistics_see_the_flat_buffer_as_one_tensor(name):
    # LAMB's and LARS's trust ratio is per tensor: the flat buffer is one tensor, so its
    # step is that of one parameter holding every value, not that of the separate arrays.
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(s) for s in SHAPES]
    variant = OPTIM_DB[name][-1]
    params = fastgd.ParamBuffer.from_arrays(start)
    whole = params.flat.copy()
    opt_flat = getattr(fastgd, name)([params.flat], **variant)
    opt_whole = getattr(fastgd, name)([whole], **variant)
    separate = [a.copy() for a in start]
    opt_separate = getattr(fastgd, name)(separate, **variant)
    g = rng.standard_normal(whole.size)
    opt_flat.step([g])
    opt_whole.step([g])
    bounds = np.cumsum([int(np.prod(s)) for s in SHAPES])[:-1]
    opt_separate.step([part.reshape(s) for part, s in zip(np.split(g, bounds), SHAPES)])
    np.testing.assert_array_equal(params.flat, whole)
    assert not np.array_equal(params.flat, np.concatenate([a.ravel() for a in separate]))


def test_views_as_separate_parameters_are_accepted():
    buf = fastgd.ParamBuffer(SHAPES)
    opt = fastgd.SGD(buf.views, lr=0.1)
    opt.step([np.ones(s) for s in SHAPES])
    assert (buf.flat == -0.1).all()


def test_empty_and_huge_buffers():
    empty = fastgd.ParamBuffer([])
    assert empty.flat.size == 0 and len(empty) == 0
    with pytest.raises(ValueError, match="at least one array"):
        fastgd.ParamBuffer.from_arrays([])
    with pytest.raises((MemoryError, ValueError)):
        fastgd.ParamBuffer([(2**40, 2**40)], np.float32)
