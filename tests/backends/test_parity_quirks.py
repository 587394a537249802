"""Rprop, ASGD and Adafactor kernels: bit for bit against fastgd.reference on every backend
and instruction set where tests/backends/test_parity.py cannot drive them (Adafactor's factored
buffers, which have their own shapes), the reductions' order, and single steps against
torch's for-loop code on inputs that exercise the quirks."""

from __future__ import annotations

import importlib
import itertools
import math

import numpy as np
import pytest

import fastgd
from fastgd import kernels, reference
from fastgd.reference._checks import dims

#: the module: the attribute ``fastgd.reference.adafactor`` is the kernel function.
adafactor_reference = importlib.import_module("fastgd.reference.adafactor")

DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["f64", "f32"]


FACTORED_SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4), (1, 1031), (1031, 1), (2, 1, 3, 2),
                   (0,), (0, 3), (3, 0), (2, 0, 3)]


def _factored_buffers(p):
    b, r, c = dims(p.shape)
    shape_r = p.shape[:-1] + (1,) if p.ndim >= 2 else (b * r,)
    shape_c = p.shape[:-2] + (1, p.shape[-1]) if p.ndim >= 2 else (b * c,)
    return np.zeros(shape_r, p.dtype), np.zeros(shape_c, p.dtype)


def _run_adafactor(fn, p0, grads, options):
    p = p0.copy()
    rv, cv = _factored_buffers(p)
    for step, g in enumerate(grads, start=1):
        rho, w = reference.adafactor_schedule(options["lr"], options["beta2_decay"], step)
        scalars = {k: v for k, v in options.items() if k != "beta2_decay"}
        fn(p, g, rv, cv, None, rho=rho, one_minus_beta2=w, factored=True, **scalars)
    return p, rv, cv


FACTORED_OPTIONS = [
    dict(lr=lr, beta2_decay=b2, eps1=e1, eps2=1e-3, d=d, weight_decay=wd, maximize=mx)
    for lr, b2, e1, d, wd, mx in itertools.product(
        (0.05, 0.9), (-0.8,), (1e-30, 1e-2), (1.0, 2.0), (0.0, 0.1), (False, True))
] + [dict(lr=0.05, beta2_decay=-0.3, eps1=0.0, eps2=0.0, d=1.0, weight_decay=0.0,
          maximize=False)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("options", FACTORED_OPTIONS,
                         ids=["-".join(f"{k}={v}" for k, v in o.items())
                              for o in FACTORED_OPTIONS])
def test_adafactor_factored_matches_reference_bit_for_bit(any_backend, options, dtype, rng):
    for shape in FACTORED_SHAPES:
        p0 = rng.standard_normal(shape).astype(dtype)
        grads = [rng.standard_normal(shape).astype(dtype) for _ in range(8)]
        grads[2][...] = 0  # an all-zero gradient mid-run
        expected = _run_adafactor(reference.adafactor, p0, grads, options)
        got = _run_adafactor(kernels.adafactor, p0, grads, options)
        for e, g in zip(expected, got):
            assert g.dtype == dtype and g.shape == e.shape
            np.testing.assert_array_equal(g, e, err_msg=f"{any_backend} {shape}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [(3, 130, 97), (257, 300), (40000,)])
def test_adafactor_large_tensors_split_across_threads_match_reference(any_backend, threads,
                                                                      shape, dtype, rng):
    # above the threading threshold (2**15 elements), chunks starting mid-row and mid-batch
    options = dict(lr=0.05, beta2_decay=-0.8, eps1=1e-30, eps2=1e-3, d=1.0,
                   weight_decay=0.1, maximize=True)
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    for e, g in zip(_run_adafactor(reference.adafactor, p0, grads, options),
                    _run_adafactor(kernels.adafactor, p0, grads, options)):
        np.testing.assert_array_equal(g, e)
    # and not factored
    p_ref, p_got = p0.copy(), p0.copy()
    v_ref, v_got = np.zeros_like(p0), np.zeros_like(p0)
    for step, g in enumerate(grads, start=1):
        rho, w = reference.adafactor_schedule(0.05, -0.8, step)
        common = dict(lr=0.05, rho=rho, one_minus_beta2=w, eps1=1e-30, weight_decay=0.1)
        reference.adafactor(p_ref, g, None, None, v_ref, **common)
        kernels.adafactor(p_got, g, None, None, v_got, **common)
    np.testing.assert_array_equal(p_got, p_ref)
    np.testing.assert_array_equal(v_got, v_ref)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("factored", [True, False])
def test_adafactor_nonfinite_values_propagate_like_the_reference(any_backend, factored,
                                                                 dtype):
    p0 = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, 2.0]], dtype=dtype)
    g = np.array([[np.nan, 1.0, 2.0], [np.inf, -np.inf, 1.0]], dtype=dtype)
    results = []
    for fn in (reference.adafactor, kernels.adafactor):
        p = p0.copy()
        rv, cv = _factored_buffers(p)
        var = np.zeros_like(p)
        for step, grad in enumerate([g, g[::-1].copy(), np.ones_like(g)], start=1):
            rho, w = reference.adafactor_schedule(0.1, -0.8, step)
            fn(p, grad, rv, cv, var, lr=0.1, rho=rho, one_minus_beta2=w, eps1=1e-30,
               factored=factored)
        results.append((p, rv, cv, var))
    for e, r in zip(*results):
        np.testing.assert_array_equal(r, e)
    assert np.isnan(results[1][0]).any()


def test_adafactor_kernel_checks_its_factored_buffers(any_backend):
    p, g = np.zeros((3, 4)), np.ones((3, 4))
    common = dict(lr=0.1, rho=0.1, one_minus_beta2=1.0, eps1=1e-30)
    with pytest.raises(ValueError, match="row_var .* has 4 elements, expected 3"):
        kernels.adafactor(p, g, np.zeros(4), np.zeros(4), factored=True, **common)
    with pytest.raises(ValueError, match="col_var .* has 3 elements, expected 4"):
        kernels.adafactor(p, g, np.zeros(3), np.zeros(3), factored=True, **common)
    with pytest.raises(ValueError, match="variance .* is required"):
        kernels.adafactor(p, g, np.zeros(3), np.zeros(4), **common)
    with pytest.raises(ValueError, match="row_var .* is required"):
        kernels.adafactor(p, g, None, np.zeros(4), factored=True, **common)
    assert (p == 0).all()


def test_reduction_helpers_follow_the_documented_order():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 21)) * np.logspace(0, 12, 21)
    rows = adafactor_reference._sum_of_squares_rows(x)
    for k in range(4):
        assert rows[k] == reference.sum_of_squares(x[k])
    assert adafactor_reference._sum_of_squares_rows(np.zeros((3, 0))).tolist() == [0.0] * 3
    cols = adafactor_reference._sum_in_order(x, axis=0)
    for c in range(21):
        total = 0.0
        for v in x[:, c]:
            total += float(v)
        assert cols[c] == total
    assert adafactor_reference._sum_in_order(np.zeros((2, 0, 3)), axis=1).shape == (2, 3)


def test_adafactor_update_rms_uses_the_eight_lane_order():
    # A single step of a vector by hand, with the sums done in the documented order: the
    # kernel result must be exactly this (it is, on every backend, by the tests above).
    rng = np.random.default_rng(11)
    p0 = rng.standard_normal(37) * 3
    g = rng.standard_normal(37) * np.logspace(-3, 3, 37)
    p = p0.copy()
    v = np.zeros(37)
    reference.adafactor(p, g, None, None, v, lr=0.01, rho=0.01, one_minus_beta2=1.0,
                        eps1=1e-30, d=1.0)
    rms_p = math.sqrt(reference.sum_of_squares(p0)) / math.sqrt(37)
    update = (1 / np.sqrt(np.maximum(g * g, 1e-30 * 1e-30))) * g
    rms_u = math.sqrt(reference.sum_of_squares(update)) / math.sqrt(37)
    expected = p0 + (-(max(1e-3, rms_p) * 0.01) / max(1.0, rms_u)) * update
    np.testing.assert_array_equal(p, expected)
    np.testing.assert_array_equal(v, g * g)


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("etas,step_sizes", [
    ((0.5, 1.2), (1e-6, 50)),
    ((0.3, 2.0), (0.2, 0.1)),                     # min > max: the max wins
    ((0.99999999, 1.00000001), (1e-6, 50)),       # both round to 1 in float32
    ((0.5, 1.2), (0.0, math.inf)),
])
def test_rprop_kernel_matches_torch_on_nonfinite_gradients(any_backend, etas, step_sizes,
                                                          dtype):
    torch = _torch()
    p0 = np.array([1.0, -2.0, 0.5, 3.0, 0.0, -0.0, 4.0, 1.5], dtype=dtype)
    grads = [np.array([np.nan, np.inf, -np.inf, 1.0, 0.0, 2.0, -1.0, 1e-30], dtype=dtype),
             np.array([1.0, 1.0, 1.0, -1.0, 1.0, np.nan, -1.0, -1.0], dtype=dtype),
             np.array([-1.0, np.nan, 2.0, -1.0, -0.0, 1.0, 1.0, 2.0], dtype=dtype),
             np.array([2.0, 1.0, -1.0, 3.0, 1.0, 1.0, 1.0, np.inf], dtype=dtype)]
    p, prev, ss = p0.copy(), np.zeros_like(p0), np.full_like(p0, 0.1)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.Rprop([tp], lr=0.1, etas=etas, step_sizes=step_sizes)
    for g in grads:
        kernels.rprop(p, g, prev, ss, etaminus=etas[0], etaplus=etas[1],
                      step_size_min=step_sizes[0], step_size_max=step_sizes[1])
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        state = opt.state[tp]
        np.testing.assert_array_equal(p, tp.detach().numpy())
        np.testing.assert_array_equal(prev, state["prev"].numpy())
        np.testing.assert_array_equal(ss, state["step_size"].numpy())


def test_rprop_nan_gradient_leaves_the_parameter_as_torch_does(any_backend):
    # torch.sign(nan) == 0 on the CPU: no step, the step size kept, prev becomes NaN
    p, prev, ss = np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.array([0.1, 0.1])
    kernels.rprop(p, np.array([np.nan, 1.0]), prev, ss, etaminus=0.5, etaplus=1.2,
                  step_size_min=1e-6, step_size_max=50.0)
    grown = 0.1 * 1.2
    assert p[0] == 1.0 and ss[0] == 0.1 and np.isnan(prev[0])
    assert p[1] == 2.0 - grown and ss[1] == grown and prev[1] == 1.0
    # the next product with a NaN prev counts as 0: factor 1, a normal step
    kernels.rprop(p, np.array([-1.0, -1.0]), prev, ss, etaminus=0.5, etaplus=1.2,
                  step_size_min=1e-6, step_size_max=50.0)
    assert p[0] == 1.0 + 0.1 and ss[0] == 0.1 and prev[0] == -1.0
    # a sign change: the step size shrinks, no step, and prev is zeroed
    assert p[1] == 2.0 - grown and ss[1] == grown * 0.5 and prev[1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [(6,), (4, 5), (2, 3, 4), (2, 1, 3, 5), (5, 1), (1, 5),
                                   ()])
@pytest.mark.parametrize("options", [
    dict(lr=0.01), dict(lr=0.5, weight_decay=0.2, maximize=True),
    dict(lr=0.05, eps=(1e-2, 0.5), d=1.2, beta2_decay=-0.5)])
def test_adafactor_steps_match_torch(any_backend, shape, options, dtype, rng):
    torch = _torch()
    p0 = np.asarray(rng.standard_normal(shape), dtype=dtype)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt = torch.optim.Adafactor([tp], **options)
    p = p0.copy()
    opt = fastgd.Adafactor([p], **options)
    for _ in range(6):
        g = np.asarray(rng.standard_normal(shape) * 3, dtype=dtype)
        opt.step([g])
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p, tp.detach().numpy(), **tol)
    for key, value in topt.state[tp].items():
        if key != "step":
            assert opt.state[0][key].shape == value.shape
            np.testing.assert_allclose(opt.state[0][key], value.numpy(), **tol)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_asgd_kernel_by_hand(any_backend, dtype):
    T = np.dtype(dtype).type
    p, ax = np.array([1.0, -2.0], dtype), np.zeros(2, dtype)
    g = np.array([0.5, 4.0], dtype)
    kernels.asgd(p, g, ax, eta=0.25, lambd=0.1, mu=1.0, weight_decay=0.5)
    expected = np.array([1.0, -2.0], dtype) * T(1 - 0.1 * 0.25) \
        + T(-0.25) * (g + T(0.5) * np.array([1.0, -2.0], dtype))
    np.testing.assert_array_equal(p, expected)
    np.testing.assert_array_equal(ax, p)  # mu == 1: a copy
    before = p.copy()
    kernels.asgd(p, g, ax, eta=0.25, lambd=0.0, mu=0.5, maximize=True)
    np.testing.assert_array_equal(p, before + T(-0.25) * -g)
    np.testing.assert_array_equal(ax, before + (p - before) * T(0.5))


def test_numpy_scalar_hyperparameters_give_the_same_bits(any_backend):
    # each backend derives its scalars (1 - lambd*eta, eps1**2, 1 - lr*wd, ...) in float64
    f32 = np.float32
    rng = np.random.default_rng(2)
    p0, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    runs = []
    for convert in (f32, lambda x: float(f32(x))):
        p, ax = p0.copy(), np.zeros_like(p0)
        kernels.asgd(p, g, ax, eta=convert(0.1), lambd=convert(0.3), mu=convert(0.5),
                     weight_decay=convert(0.1))
        rv, cv = np.zeros((3, 1)), np.zeros((1, 4))
        kernels.adafactor(p, g, rv, cv, lr=convert(0.1), rho=convert(0.1),
                          one_minus_beta2=convert(0.7), eps1=convert(1e-3),
                          eps2=convert(1e-3), d=convert(1.1), weight_decay=convert(0.2),
                          factored=True)
        q, prev, ss = p0.copy(), np.zeros_like(p0), np.full_like(p0, 0.1)
        for _ in range(2):
            kernels.rprop(q, g, prev, ss, etaminus=convert(0.3), etaplus=convert(1.7),
                          step_size_min=convert(1e-3), step_size_max=convert(0.15))
        runs.append((p, ax, rv, cv, q, prev, ss))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_float32_bias_correction_division_is_exact_over_the_whole_range(any_backend,
                                                                             amsgrad, rng):
    # The compiled float32 Adam divides sqrt(v) by bias_correction2_sqrt as a product with
    # the double reciprocal, rounded once: it must give the IEEE quotient's bits for every
    # v, from the least subnormal to the largest float (and 0, inf, NaN), and for divisors
    # that are not powers of two; the last division (m by denom) then sees the same denom.
    n = 1 << 16
    bits = rng.integers(0, 0x7F800000, size=n, dtype=np.uint32)
    bits[:8] = [0, 1, 2, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x7F800000, 0x7FC00000]
    v0 = bits.view(np.float32)
    m0 = rng.standard_normal(n).astype(np.float32) * np.float32(1e-3)
    g = np.zeros(n, np.float32)  # v and m then only decay: v spans the range at the divide
    for beta2, step in [(0.999, 1), (0.999, 7), (0.95, 3), (0.5, 2), (0.0, 1)]:
        bc1, bc2_sqrt = reference.bias_corrections(0.9, beta2, step)
        out = []
        for fn in (reference.adam, kernels.adam):
            p, m, v = np.zeros(n, np.float32), m0.copy(), v0.copy()
            vmax = v0.copy() if amsgrad else None
            fn(p, g, m, v, vmax, lr=0.1, beta1=0.9, beta2=beta2, eps=1e-8,
               bias_correction1=bc1, bias_correction2_sqrt=bc2_sqrt, amsgrad=amsgrad)
            out.append((p, m, v))
        for e, r in zip(*out):
            np.testing.assert_array_equal(r, e, err_msg=f"{any_backend} beta2={beta2}")
