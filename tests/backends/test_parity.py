"""fastgd.kernels on every installed backend against fastgd.reference, bit for bit.

``KERNEL_CASES`` drives every public kernel (``test_every_public_kernel_is_tested``): its
option sets, starting buffers and per-step scalars. The kernels it cannot drive alone
(Adafactor factored) and single steps against torch are in test_parity_quirks.py; the
checks every backend makes, in the same words, in test_kernel_checks.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fastgd import kernels, reference
from fastgd.reference._checks import dims as _checks_dims

DTYPES = [np.float64, np.float32]
SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4), (1031,)]


def _sgd_cases():
    for momentum, dampening, wd, nesterov, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.3), (0.0, 0.1), (False, True), (False, True)):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        yield dict(lr=0.05, momentum=momentum, dampening=dampening, weight_decay=wd,
                   nesterov=nesterov, maximize=maximize)


def _adam_cases():
    for amsgrad, decoupled, wd, maximize, betas in itertools.product(
            (False, True), (False, True), (0.0, 0.05), (False, True),
            ((0.9, 0.999), (0.3, 0.6))):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], eps=1e-8, weight_decay=wd,
                   amsgrad=amsgrad, decoupled_weight_decay=decoupled, maximize=maximize)


def _adagrad_cases():
    for wd, maximize, eps in itertools.product((0.0, 0.1), (False, True), (1e-10, 1e-3)):
        yield dict(lr=0.1, lr_decay=0.01, eps=eps, weight_decay=wd, maximize=maximize)


def _rmsprop_cases():
    # eps outside the root (torch's form), then inside (optax's form, eps_in_sqrt=True)
    for centered, momentum, wd, maximize, alpha in itertools.product(
            (False, True), (0.0, 0.9), (0.0, 0.1), (False, True), (0.99, 0.3)):
        yield dict(lr=0.01, alpha=alpha, eps=1e-8, weight_decay=wd, momentum=momentum,
                   centered=centered, maximize=maximize)
    for centered, momentum, wd, maximize, eps in itertools.product(
            (False, True), (0.0, 0.9), (0.0, 0.1), (False, True), (1e-8, 1e-2)):
        yield dict(lr=0.01, alpha=0.9, eps=eps, weight_decay=wd, momentum=momentum,
                   centered=centered, maximize=maximize, eps_in_sqrt=True)


def _sgd_buffers(options, p):
    return [np.empty_like(p) if options.get("momentum", 0) != 0 else None]


def _sgd_scalars(options, step):
    return {**options, "first_step": step == 1}


def _adam_buffers(options, p):
    zeros = np.zeros_like
    return [zeros(p), zeros(p), zeros(p) if options.get("amsgrad") else None]


def _adam_scalars(options, step):
    o = dict(options)
    o["bias_correction1"], o["bias_correction2_sqrt"] = reference.bias_corrections(
        o["beta1"], o["beta2"], step)
    return o


def _adagrad_scalars(options, step):
    o = dict(options)
    o["clr"] = o.pop("lr") / (1 + (step - 1) * o.pop("lr_decay"))
    return o


def _rmsprop_buffers(options, p):
    zeros = np.zeros_like
    return [zeros(p), zeros(p) if options.get("centered") else None,
            zeros(p) if options.get("momentum", 0) > 0 else None]


def _as_is(options, step):
    return dict(options)


class KernelCases:
    """How the tests drive a kernel: its option sets, the state buffers it starts from
    (at the optimizer's starting values), and its keyword arguments at each step (1-based)
    as the optimizer computes them. ``large`` is an option set with every buffer in use,
    ``nonfinite`` one for the NaN/Inf test (None: the first option set); either may be a
    list of option sets, each run (a kernel whose flag selects another arithmetic)."""

    def __init__(self, cases, buffers, scalars=_as_is, large=None, nonfinite=None):
        self.cases = list(cases)
        self.buffers, self.scalars = buffers, scalars
        self.large = _option_sets(large, self.cases[-1])
        self.nonfinite = _option_sets(nonfinite, self.cases[0])


def _option_sets(given, default):
    if given is None:
        return [default]
    return list(given) if isinstance(given, list) else [given]


KERNEL_CASES: dict[str, KernelCases] = {
    "sgd": KernelCases(_sgd_cases(), _sgd_buffers, _sgd_scalars,
                       large=dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
                       nonfinite=dict(lr=0.1, momentum=0.9)),
    "adam": KernelCases(_adam_cases(), _adam_buffers, _adam_scalars,
                        large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                   weight_decay=0.05, amsgrad=True,
                                   decoupled_weight_decay=True),
                        nonfinite=dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                                       amsgrad=True)),
    "adagrad": KernelCases(_adagrad_cases(), lambda o, p: [np.full_like(p, 0.1)],
                           _adagrad_scalars,
                           large=dict(lr=0.1, lr_decay=0.01, eps=1e-10, weight_decay=0.1),
                           nonfinite=dict(lr=0.1, lr_decay=0.0, eps=1e-10)),
    "rmsprop": KernelCases(_rmsprop_cases(), _rmsprop_buffers,
                           large=[dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.9,
                                       centered=True, eps_in_sqrt=eps_in_sqrt)
                                  for eps_in_sqrt in (False, True)],
                           nonfinite=[dict(lr=0.1, alpha=0.9, eps=1e-8, centered=True,
                                           eps_in_sqrt=eps_in_sqrt)
                                      for eps_in_sqrt in (False, True)]),
}

def _adadelta_cases():
    for rho, wd, maximize, eps in itertools.product(
            (0.9, 0.0, 1.0), (0.0, 0.1), (False, True), (1e-6, 1e-2)):
        yield dict(lr=1.0, rho=rho, eps=eps, weight_decay=wd, maximize=maximize)


def _adamax_cases():
    for wd, maximize, betas, eps in itertools.product(
            (0.0, 0.05), (False, True), ((0.9, 0.999), (0.3, 0.6), (0.0, 0.0)), (1e-8, 0.0)):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=wd,
                   maximize=maximize)


def _nadam_cases():
    for decoupled, wd, maximize, betas, psi in itertools.product(
            (False, True), (0.0, 0.05), (False, True), ((0.9, 0.999), (0.3, 0.6)),
            (4e-3, 0.5)):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], eps=1e-8, weight_decay=wd,
                   momentum_decay=psi, decoupled_weight_decay=decoupled, maximize=maximize)


def _radam_cases():
    # 12 steps are run: beta2 = 0.999 rectifies from step 6 on, 0.8 from step 7 on, 0.6
    # never (rho_inf < 5)
    for decoupled, wd, maximize, betas in itertools.product(
            (False, True), (0.0, 0.05), (False, True), ((0.9, 0.999), (0.3, 0.6), (0.5, 0.8))):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], eps=1e-8, weight_decay=wd,
                   decoupled_weight_decay=decoupled, maximize=maximize)


def _adam_eps_root_cases():
    for amsgrad, decoupled, wd, maximize, eps_root in itertools.product(
            (False, True), (False, True), (0.0, 0.05), (False, True), (0.0, 1e-3)):
        yield dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=eps_root,
                   weight_decay=wd, amsgrad=amsgrad, decoupled_weight_decay=decoupled,
                   maximize=maximize)
    yield dict(lr=0.01, beta1=0.3, beta2=0.6, eps=1e-3, eps_root=1e-8, amsgrad=True)


def _two_buffers(options, p):
    return [np.zeros_like(p), np.zeros_like(p)]


def _adamax_scalars(options, step):
    return {**options, "bias_correction1": 1 - options["beta1"] ** step}


def _nadam_scalars(options, step):
    # as fastgd.NAdam computes them (optim._plan_nadam), mu_product rounded to float32
    o = dict(options)
    psi, beta1 = o.pop("momentum_decay"), o["beta1"]
    product = 1.0
    for k in range(1, step + 1):
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (k * psi)))
        product = float(np.float32(product) * np.float32(mu))
    o.update(bias_correction2=1 - o["beta2"] ** step, mu=mu,
             mu_next=beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi))), mu_product=product)
    return o


def _radam_scalars(options, step):
    # "step_offset": start at a later step (the large and NaN tests run 2-3 steps only,
    # before rectification begins)
    from fastgd.optim.radam import _radam_rectification
    o = dict(options)
    step += o.pop("step_offset", 0)
    o["rectified"], o["rectification"] = _radam_rectification(o["beta2"], step)
    o["bias_correction1"] = 1 - o["beta1"] ** step
    o["bias_correction2_sqrt"] = (1 - o["beta2"] ** step) ** 0.5
    return o


def _adam_eps_root_scalars(options, step):
    return {**options, "bias_correction1": 1 - options["beta1"] ** step,
            "bias_correction2": 1 - options["beta2"] ** step}


KERNEL_CASES.update({
    "adadelta": KernelCases(_adadelta_cases(), _two_buffers,
                            large=dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.1)),
    "adamax": KernelCases(_adamax_cases(), _two_buffers, _adamax_scalars,
                          large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                     weight_decay=0.05)),
    "nadam": KernelCases(_nadam_cases(), _two_buffers, _nadam_scalars,
                         large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                    weight_decay=0.05, momentum_decay=4e-3,
                                    decoupled_weight_decay=True)),
    "radam": KernelCases(_radam_cases(), _two_buffers, _radam_scalars,
                         # steps 5, 6, 7: the last two rectified
                         large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                    weight_decay=0.05, step_offset=4),
                         nonfinite=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                        step_offset=9)),
    "adam_eps_root": KernelCases(_adam_eps_root_cases(), _adam_buffers, _adam_eps_root_scalars,
                                 large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                            eps_root=1e-8, weight_decay=0.05, amsgrad=True,
                                            decoupled_weight_decay=True),
                                 nonfinite=dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                                                eps_root=1e-8, amsgrad=True)),
})

def _rprop_cases():
    for etas, step_sizes, maximize in itertools.product(
            ((0.5, 1.2), (0.3, 2.0)), ((1e-6, 50.0), (1e-2, 0.3), (0.2, 0.1)), (False, True)):
        yield dict(lr=0.1, etaminus=etas[0], etaplus=etas[1], step_size_min=step_sizes[0],
                   step_size_max=step_sizes[1], maximize=maximize)


def _rprop_buffers(options, p):
    return [np.zeros_like(p), np.full_like(p, options["lr"])]


def _without_lr(options, step):
    return {k: v for k, v in options.items() if k != "lr"}


def _asgd_cases():
    for lambd, alpha, t0, wd, maximize in itertools.product(
            (1e-4, 0.5), (0.75, 2.0), (1e6, 4.0), (0.0, 0.1), (False, True)):
        yield dict(lr=0.05, lambd=lambd, alpha=alpha, t0=t0, weight_decay=wd,
                   maximize=maximize)


def _asgd_scalars(options, step):
    o = dict(options)
    lr, alpha, t0 = o.pop("lr"), o.pop("alpha"), o.pop("t0")
    o["eta"], o["mu"] = reference.asgd_schedule(lr, o["lambd"], alpha, t0, step - 1)
    return o


def _adafactor_cases(factored=False):
    # the bit-for-bit test here asserts that every buffer keeps the parameter's shape,
    # which row_var and col_var do not: the factored cases run in
    # tests/backends/test_parity_quirks.py (on every backend and instruction set too)
    for wd, maximize, eps1, beta2_decay, d in itertools.product(
            (0.0, 0.1), (False, True), (1e-30, 1e-3), (-0.8, -0.3), (1.0, 1.5)):
        yield dict(lr=0.05, beta2_decay=beta2_decay, eps1=eps1, eps2=1e-3, d=d,
                   weight_decay=wd, factored=factored, maximize=maximize)


def _adafactor_buffers(options, p):
    if options.get("factored"):
        b, r, c = _checks_dims(p.shape)
        return [np.zeros(b * r, p.dtype), np.zeros(b * c, p.dtype), None]
    return [None, None, np.zeros_like(p)]


def _adafactor_scalars(options, step):
    o = dict(options)
    o["rho"], o["one_minus_beta2"] = reference.adafactor_schedule(
        o["lr"], o.pop("beta2_decay"), step)
    return o


KERNEL_CASES["rprop"] = KernelCases(
    _rprop_cases(), _rprop_buffers, _without_lr,
    large=dict(lr=0.1, etaminus=0.5, etaplus=1.2, step_size_min=1e-3, step_size_max=0.5,
               maximize=True),
    # a NaN gradient leaves the parameter alone in torch (torch.sign(nan) == 0); with an
    # infinite step size, a zero sign times it makes the NaN the test looks for
    nonfinite=dict(lr=np.inf, etaminus=0.5, etaplus=1.2, step_size_min=0.0,
                   step_size_max=np.inf))
KERNEL_CASES["asgd"] = KernelCases(
    _asgd_cases(), lambda o, p: [np.zeros_like(p)], _asgd_scalars,
    large=dict(lr=0.05, lambd=1e-4, alpha=0.75, t0=1.0, weight_decay=0.1),
    nonfinite=dict(lr=0.05, lambd=1e-4, alpha=0.75, t0=0.0))
KERNEL_CASES["adafactor"] = KernelCases(
    _adafactor_cases(), _adafactor_buffers, _adafactor_scalars,
    large=dict(lr=0.05, beta2_decay=-0.8, eps1=1e-30, eps2=1e-3, d=1.0, weight_decay=0.1,
               factored=True),
    nonfinite=dict(lr=0.05, beta2_decay=-0.8, eps1=1e-30, eps2=1e-3, d=1.0, factored=True))

def _optax_bias_scalars(options, step):
    o = dict(options)
    o["bias_correction1"] = 1 - o["beta1"] ** step
    o["bias_correction2"] = 1 - o["beta2"] ** step
    return o


def _lion_cases():
    for wd, maximize, betas in itertools.product((0.0, 0.1), (False, True),
                                                 ((0.9, 0.99), (0.0, 0.5))):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], weight_decay=wd, maximize=maximize)


def _adabelief_cases():
    for wd, maximize, (eps, eps_root), betas in itertools.product(
            (0.0, 0.05), (False, True), ((1e-16, 1e-16), (1e-3, 0.0)),
            ((0.9, 0.999), (0.3, 0.6))):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], eps=eps, eps_root=eps_root,
                   weight_decay=wd, maximize=maximize)


def _lamb_cases():
    for wd, maximize, betas in itertools.product((0.0, 0.05), (False, True),
                                                 ((0.9, 0.999), (0.3, 0.6))):
        yield dict(lr=0.01, beta1=betas[0], beta2=betas[1], eps=1e-6, weight_decay=wd,
                   maximize=maximize)


def _lars_cases():
    for momentum, nesterov, wd, maximize, eps in itertools.product(
            (0.0, 0.9), (False, True), (0.0, 0.1), (False, True), (0.0, 1e-3)):
        if nesterov and momentum == 0:
            continue
        yield dict(lr=0.5, momentum=momentum, weight_decay=wd, trust_coefficient=1e-2,
                   eps=eps, nesterov=nesterov, maximize=maximize)


def _yogi_cases():
    for maximize, betas, eps in itertools.product((False, True), ((0.9, 0.999), (0.3, 0.6)),
                                                  (1e-3, 1e-8)):
        yield dict(lr=0.05, beta1=betas[0], beta2=betas[1], eps=eps, maximize=maximize)


def _two_zero_buffers(options, p):
    return [np.zeros_like(p), np.zeros_like(p)]


KERNEL_CASES.update({
    "lion": KernelCases(_lion_cases(), lambda o, p: [np.zeros_like(p)],
                        large=dict(lr=0.01, beta1=0.9, beta2=0.99, weight_decay=0.1,
                                   maximize=True)),
    "adabelief": KernelCases(_adabelief_cases(), _two_zero_buffers, _optax_bias_scalars,
                             large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-16,
                                        eps_root=1e-16, weight_decay=0.05)),
    "lamb": KernelCases(_lamb_cases(), _two_zero_buffers, _optax_bias_scalars,
                        large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-6,
                                   weight_decay=0.05)),
    "lars": KernelCases(_lars_cases(),
                        lambda o, p: [np.zeros_like(p) if o.get("momentum", 0) != 0 else None],
                        large=dict(lr=0.5, momentum=0.9, weight_decay=0.1,
                                   trust_coefficient=1e-2, nesterov=True),
                        nonfinite=dict(lr=0.5, momentum=0.9, trust_coefficient=1e-3)),
    "yogi": KernelCases(_yogi_cases(), lambda o, p: [np.full_like(p, 1e-6),
                                                     np.full_like(p, 1e-6)],
                        _optax_bias_scalars),
})


def _sophia_cases():
    for wd, maximize, beta1, (rho, eps) in itertools.product(
            (0.0, 0.1), (False, True), (0.965, 0.5), ((0.04, 1e-15), (2.0, 1e-3))):
        yield dict(lr=0.01, beta1=beta1, rho=rho, eps=eps, weight_decay=wd, maximize=maximize)


def _sophia_buffers(options, p):
    # a Hessian average with positive, zero and negative entries (a negative one gives a
    # sign step), held fixed: only update_hessian changes it
    return [np.zeros_like(p), np.array(p * p - 0.3, dtype=p.dtype)]


def _schedule_free_cases(adam):
    for wd, maximize, beta, schedule in itertools.product(
            (0.0, 0.05), (False, True), (0.9, 0.3),
            (dict(), dict(warmup_steps=3, r=1.0, weight_lr_power=1.0))):
        if adam:
            yield dict(lr=0.01, beta1=beta, beta2=0.999 if beta == 0.9 else 0.6,
                       eps=1e-8 if beta == 0.9 else 1e-3, weight_decay=wd,
                       maximize=maximize, **schedule)
        else:
            yield dict(lr=0.05, momentum=beta, weight_decay=wd, maximize=maximize, **schedule)


def _schedule_free_scalars(options, step):
    """The optimizer's scalars at ``step`` (from 1) with these options all along: the
    scheduled lr, the averaging weight c and 1 - beta2**step (schedulefree's formulas)."""
    o = dict(options)
    lr, warmup = o.pop("lr"), o.pop("warmup_steps", 0)
    r, power = o.pop("r", 0.0), o.pop("weight_lr_power", 2.0)
    weight_sum = lr_max = 0.0
    for k in range(step):
        lr_k = lr * ((k + 1) / warmup if k < warmup else 1.0)
        lr_max = max(lr_k, lr_max)
        weight = (k + 1) ** r * lr_max ** power
        weight_sum += weight
    o["lr"], o["ckp1"] = lr_k, weight / weight_sum
    if "beta2" in o:
        o["bias_correction2"] = 1 - o["beta2"] ** step
    return o


KERNEL_CASES["sophia"] = KernelCases(
    _sophia_cases(), _sophia_buffers,
    large=dict(lr=0.01, beta1=0.965, rho=0.04, eps=1e-15, weight_decay=0.1, maximize=True),
    nonfinite=dict(lr=0.01, beta1=0.9, rho=0.04, eps=1e-15, weight_decay=0.1))
KERNEL_CASES["sophia_hessian"] = KernelCases(
    [dict(beta2=0.99), dict(beta2=0.5), dict(beta2=0.0)], lambda o, p: [],
    large=dict(beta2=0.99))
KERNEL_CASES["sgd_schedule_free"] = KernelCases(
    _schedule_free_cases(False), lambda o, p: [p.copy()], _schedule_free_scalars,
    large=dict(lr=0.05, momentum=0.9, weight_decay=0.05, warmup_steps=2))
KERNEL_CASES["adamw_schedule_free"] = KernelCases(
    _schedule_free_cases(True), lambda o, p: [p.copy(), np.zeros_like(p)],
    _schedule_free_scalars,
    large=dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05, warmup_steps=2))

CASES = [(kernel, c) for kernel, kc in KERNEL_CASES.items() for c in kc.cases]


def _case_id(case):
    kernel, options = case
    return kernel + "-" + "-".join(f"{k}={v}" for k, v in options.items())


def _run(fn, kernel, options, p0, grads):
    p = p0.copy()
    kc = KERNEL_CASES[kernel]
    state = kc.buffers(options, p)
    for step, g in enumerate(grads, start=1):
        fn(p, g, *state, **kc.scalars(options, step))
    return [p] + [s for s in state if s is not None]


def test_every_public_kernel_is_tested():
    from fastgd.reference._declare import KERNELS
    assert set(KERNEL_CASES) == {k for k, d in KERNELS.items() if d.public}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_kernel_matches_reference_bit_for_bit(any_backend, case, dtype, rng):
    kernel, options = case
    for shape in SHAPES:
        p0 = rng.standard_normal(shape).astype(dtype)
        grads = [rng.standard_normal(shape).astype(dtype) for _ in range(12)]
        grads[3][...] = 0  # an all-zero gradient mid-run
        expected = _run(getattr(reference, kernel), kernel, options, p0, grads)
        got = _run(getattr(kernels, kernel), kernel, options, p0, grads)
        for e, g in zip(expected, got):
            assert g.dtype == dtype and g.shape == e.shape
            np.testing.assert_array_equal(g, e, err_msg=f"{any_backend} {kernel} {shape}")


LARGE_CASES = [(kernel, options) for kernel, kc in KERNEL_CASES.items()
               for options in kc.large]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case", LARGE_CASES, ids=[_case_id(c) for c in LARGE_CASES])
def test_large_buffers_split_across_threads_match_reference(any_backend, threads, case,
                                                            dtype, rng):
    # Above the threading threshold (2**15 elements), with a length that is not a
    # multiple of the chunk alignment, and every state buffer in use.
    kernel, options = case
    n = (1 << 18) + 13
    p0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    expected = _run(getattr(reference, kernel), kernel, options, p0, grads)
    got = _run(getattr(kernels, kernel), kernel, options, p0, grads)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_nan_and_inf_propagate_like_the_reference(any_backend, dtype):
    p0 = np.array([1.0, -2.0, 0.5, 3.0, 0.0], dtype=dtype)
    g = np.array([np.nan, np.inf, -np.inf, 1.0, 0.0], dtype=dtype)
    for kernel, options in [(k, o) for k, kc in KERNEL_CASES.items() for o in kc.nonfinite]:
        expected = _run(getattr(reference, kernel), kernel, options, p0, [g, g[::-1].copy()])
        got = _run(getattr(kernels, kernel), kernel, options, p0, [g, g[::-1].copy()])
        for e, r in zip(expected, got):
            np.testing.assert_array_equal(r, e, err_msg=f"{kernel} {options}")
        assert np.isnan(got[0][0]), kernel


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_division_by_zero_gives_nan_not_an_exception(any_backend, dtype):
    # eps = 0 and a zero gradient: 0/0 in every kernel that divides, as in torch and NumPy
    zero = np.zeros(3, dtype)
    cases = [("adam", dict(lr=0.1, beta1=0.9, beta2=0.999, eps=0.0)),
             ("rmsprop", dict(lr=0.1, alpha=0.9, eps=0.0, centered=True, momentum=0.5))]
    for kernel, options in cases:
        got = _run(getattr(kernels, kernel), kernel, options, zero, [zero])
        expected = _run(getattr(reference, kernel), kernel, options, zero, [zero])
        assert np.isnan(got[0]).all(), kernel
        for e, r in zip(expected, got):
            np.testing.assert_array_equal(r, e)
    p, state_sum = zero.copy(), zero.copy()  # Adagrad with its sum still at zero
    kernels.adagrad(p, zero, state_sum, clr=0.1, eps=0.0)
    assert np.isnan(p).all()


def test_kernels_share_signatures_with_the_reference():
    import inspect
    for name in KERNEL_CASES:
        assert (inspect.signature(getattr(kernels, name))
                == inspect.signature(getattr(reference, name)))
        assert getattr(kernels, name).__doc__ == getattr(reference, name).__doc__


def test_declarations_match_the_reference_signatures():
    import inspect

    from fastgd.reference._declare import KERNELS
    for name in KERNEL_CASES:
        decl = KERNELS[name]
        parameters = inspect.signature(getattr(reference, name)).parameters.values()
        assert tuple(p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD) \
            == decl.roles, name
        keywords = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
        assert [k for k in keywords if k in decl.flags] == list(decl.flags), name
        assert all(keywords[k] is False for k in decl.flags), name
        scalars = {k: None if v is inspect.Parameter.empty else v
                   for k, v in keywords.items() if k not in decl.flags}
        assert scalars == decl.scalars, name
