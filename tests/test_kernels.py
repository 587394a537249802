"""fastgd.kernels on every installed backend against fastgd.reference, bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastgd
from fastgd import _backend, kernels, reference

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
    for centered, momentum, wd, maximize, alpha in itertools.product(
            (False, True), (0.0, 0.9), (0.0, 0.1), (False, True), (0.99, 0.3)):
        yield dict(lr=0.01, alpha=alpha, eps=1e-8, weight_decay=wd, momentum=momentum,
                   centered=centered, maximize=maximize)


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
    ``nonfinite`` one for the NaN/Inf test (None: the first option set)."""

    def __init__(self, cases, buffers, scalars=_as_is, large=None, nonfinite=None):
        self.cases = list(cases)
        self.buffers, self.scalars = buffers, scalars
        self.large = large if large is not None else self.cases[-1]
        self.nonfinite = nonfinite if nonfinite is not None else self.cases[0]


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
                           large=dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.9,
                                      centered=True),
                           nonfinite=dict(lr=0.1, alpha=0.9, eps=1e-8, centered=True)),
}

# ---- begin tests: adam-family (Adadelta, Adamax, NAdam, RAdam) ----
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
    from fastgd.optim import _radam_rectification
    o = dict(options)
    step += o.pop("step_offset", 0)
    o["rectified"], o["rectification"] = _radam_rectification(o["beta2"], step)
    o["bias_correction1"] = 1 - o["beta1"] ** step
    o["bias_correction2_sqrt"] = (1 - o["beta2"] ** step) ** 0.5
    return o


def _adam_eps_root_scalars(options, step):
    return {**options, "bias_correction1": 1 - options["beta1"] ** step,
            "bias_correction2": 1 - options["beta2"] ** step}


def _rmsprop_eps_in_sqrt_cases():
    for centered, momentum, wd, maximize, eps in itertools.product(
            (False, True), (0.0, 0.9), (0.0, 0.1), (False, True), (1e-8, 1e-2)):
        yield dict(lr=0.01, alpha=0.9, eps=eps, weight_decay=wd, momentum=momentum,
                   centered=centered, maximize=maximize)


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
    "rmsprop_eps_in_sqrt": KernelCases(_rmsprop_eps_in_sqrt_cases(), _rmsprop_buffers,
                                       large=dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.9,
                                                  centered=True),
                                       nonfinite=dict(lr=0.1, alpha=0.9, eps=1e-8,
                                                      centered=True)),
})
# ---- end tests: adam-family ----

# ---- begin tests: torch-other (Rprop, ASGD, Adafactor) ----
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
    # tests/test_torch_other_kernels.py (on every backend and instruction set too)
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


from fastgd._checks import dims as _checks_dims  # noqa: E402

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
# ---- end tests: torch-other ----

# ---- begin tests: optax (Lion, AdaBelief, LAMB, LARS, Yogi) ----
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
# ---- end tests: optax ----

# ---- begin tests: sophia-schedulefree (Sophia, SGDScheduleFree, AdamWScheduleFree) ----

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
# ---- end tests: sophia-schedulefree ----

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
    from fastgd._checks import KERNELS
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


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request):
    """The compiled core's thread count for the test (Numba and NumPy run on one)."""
    if fastgd.backend() != "cython":
        if request.param != 1:
            pytest.skip("only the compiled core runs on several threads")
        yield 1
        return
    core = _backend.load("cython")
    before = core.thread_override()
    fastgd.set_num_threads(request.param)
    assert fastgd.get_num_threads() == (request.param if core.OPENMP else 1)
    yield request.param
    core.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", list(KERNEL_CASES))
def test_large_buffers_split_across_threads_match_reference(any_backend, threads, kernel,
                                                            dtype, rng):
    # Above the threading threshold (2**15 elements), with a length that is not a
    # multiple of the chunk alignment, and every state buffer in use.
    options = KERNEL_CASES[kernel].large
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
    for kernel, kc in KERNEL_CASES.items():
        options = kc.nonfinite
        expected = _run(getattr(reference, kernel), kernel, options, p0, [g, g[::-1].copy()])
        got = _run(getattr(kernels, kernel), kernel, options, p0, [g, g[::-1].copy()])
        for e, r in zip(expected, got):
            np.testing.assert_array_equal(r, e, err_msg=kernel)
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


def test_reference_sgd_first_momentum_step_skips_dampening():
    p, g, buf = np.array([1.0]), np.array([2.0]), np.empty(1)
    reference.sgd(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5, first_step=True)
    assert buf[0] == 2.0 and p[0] == 1.0 - 0.1 * 2.0
    reference.sgd(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5)
    assert buf[0] == 0.9 * 2.0 + 0.5 * 2.0


def test_reference_adam_first_step_is_lr_times_sign():
    # After one step m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps).
    p, g = np.array([1.0, 1.0]), np.array([3.0, -0.25])
    m, v = np.zeros(2), np.zeros(2)
    bc1, bc2 = reference.bias_corrections(0.9, 0.999, 1)
    reference.adam(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=0.0, bias_correction1=bc1,
                   bias_correction2_sqrt=bc2)
    np.testing.assert_allclose(p, [0.9, 1.1], rtol=1e-15)


def test_reference_adagrad_and_rmsprop_by_hand():
    p, s = np.array([2.0]), np.array([1.0])
    reference.adagrad(p, np.array([3.0]), s, clr=0.5, eps=0.0)
    assert s[0] == 10.0 and p[0] == 2.0 - 0.5 * 3.0 / np.sqrt(10.0)
    p, v = np.array([2.0]), np.array([0.0])
    reference.rmsprop(p, np.array([2.0]), v, lr=0.1, alpha=0.75, eps=0.0)
    assert v[0] == 0.25 * 4.0 and p[0] == 2.0 - 0.1 * 2.0 / 1.0


# -- validation: the same errors, in the same words, on every backend -------------------------

def _adam_args(dtype=np.float64, n=4):
    return [np.zeros(n, dtype) for _ in range(4)]


_ADAM_SCALARS = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction1=0.1,
                     bias_correction2_sqrt=0.03)


def _scalars(extra):
    """The Adam scalars with ``extra`` applied; a None value removes that scalar."""
    merged = {**_ADAM_SCALARS, **extra}
    return {k: v for k, v in merged.items() if v is not None}


def _bad_calls():
    def readonly():
        p, g, m, v = _adam_args()
        m.flags.writeable = False
        return (p, g, m, v), {}

    def overlap():
        p, g, m, v = _adam_args()
        return (p, p, m, v), {}

    def overlap_view():
        p = np.zeros(8)
        return (p[:4], np.ones(4), p[3:7], np.zeros(4)), {}

    return {
        "int dtype": ((np.zeros(4, np.int64),) + tuple(_adam_args()[1:]), {}, TypeError,
                      "dtype int64"),
        "float16": ((np.zeros(4, np.float16),) + tuple(_adam_args()[1:]), {}, TypeError,
                    "dtype float16"),
        "mixed dtypes": ((np.zeros(4, np.float32),) + tuple(_adam_args()[1:]), {}, TypeError,
                         "expected float32"),
        "not an array": (([0.0] * 4,) + tuple(_adam_args()[1:]), {}, TypeError,
                         "must be a numpy.ndarray"),
        "non-contiguous": ((np.zeros(8)[::2],) + tuple(_adam_args()[1:]), {}, ValueError,
                           "C-contiguous"),
        "read-only state": (*readonly(), ValueError, "read-only"),
        "length mismatch": ((np.zeros(5),) + tuple(_adam_args()[1:]), {}, ValueError,
                            "has 4 elements, expected 5"),
        "missing amsgrad buffer": (tuple(_adam_args()), {"amsgrad": True}, ValueError,
                                   "max_exp_avg_sq .* is required"),
        "grad is param": (*overlap(), ValueError, "shares memory"),
        "overlapping views": (*overlap_view(), ValueError, "shares memory"),
        "byte-swapped param": ((np.zeros(4, ">f8"),) + tuple(_adam_args()[1:]), {},
                               TypeError, "dtype >f8"),
        "byte-swapped grad": ((np.zeros(4), np.zeros(4, ">f8")) + tuple(_adam_args()[2:]), {},
                              TypeError, "dtype >f8, expected float64"),
        "lr not a number": (tuple(_adam_args()), {"lr": "0.1"}, TypeError, "lr must be a real"),
        "lr too large": (tuple(_adam_args()), {"lr": 10**400}, ValueError, "too large"),
        "missing scalar": (tuple(_adam_args()), {"beta1": None}, TypeError,
                           "missing required keyword argument 'beta1'"),
        "unknown scalar": (tuple(_adam_args()), {"momentum": 0.9}, TypeError,
                           "unexpected keyword argument 'momentum'"),
        "too many buffers": (tuple(_adam_args()) + (np.zeros(4), np.zeros(4)), {}, TypeError,
                             "at most 5 buffers, got 6"),
        "lr is bool": (tuple(_adam_args()), {"lr": True}, TypeError, "lr must be a real"),
    }


BAD = _bad_calls()


@pytest.mark.parametrize("name", list(BAD))
def test_bad_buffers_are_rejected_before_any_write(any_backend, name):
    buffers, extra, error, pattern = BAD[name]
    before = [b.copy() if isinstance(b, np.ndarray) else b for b in buffers]
    with pytest.raises(error, match=pattern):
        kernels.adam(*buffers, **_scalars(extra))
    for b, saved in zip(buffers, before):
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(b, saved)


@pytest.mark.parametrize("name", list(BAD))
def test_every_backend_words_errors_alike(name):
    buffers, extra, error, _ = BAD[name]
    messages = {}
    for backend in _backend.available():
        with fastgd.use_backend(backend), pytest.raises(error) as info:
            kernels.adam(*buffers, **_scalars(extra))
        messages[backend] = str(info.value)
    with pytest.raises(error) as info:
        reference.adam(*buffers, **_scalars(extra))
    messages["reference"] = str(info.value)
    assert len(set(messages.values())) == 1, messages


def test_numpy_scalar_hyperparameters_give_the_same_bits(any_backend):
    # every backend computes its per-call scalars (1 - lr*wd, lr/bc1, ...) in float64,
    # whatever the type of the numbers it is given
    p0, g = np.linspace(-1, 1, 7), np.linspace(2, -3, 7)
    f32 = np.float32
    p = p0.copy()
    _backend.active().adam_many([p], [g], [np.zeros(7)], [np.zeros(7)], None, lr=f32(0.01),
                                beta1=f32(0.9), beta2=f32(0.999), eps=f32(1e-8),
                                weight_decay=f32(0.1), bias_correction1=f32(0.1),
                                bias_correction2_sqrt=f32(0.03), decoupled_weight_decay=True)
    expected = p0.copy()
    reference.adam(expected, g, np.zeros(7), np.zeros(7), lr=float(np.float32(0.01)),
                   beta1=float(np.float32(0.9)), beta2=float(np.float32(0.999)),
                   eps=float(np.float32(1e-8)), weight_decay=float(np.float32(0.1)),
                   bias_correction1=float(np.float32(0.1)),
                   bias_correction2_sqrt=float(np.float32(0.03)), decoupled_weight_decay=True)
    np.testing.assert_array_equal(p, expected)


def test_zero_bias_correction_gives_inf_steps_not_an_exception(any_backend):
    p = np.ones(2)
    kernels.adam(p, np.ones(2), np.zeros(2), np.zeros(2), lr=0.1, beta1=0.9, beta2=0.999,
                 eps=1e-8, bias_correction1=0.0, bias_correction2_sqrt=0.03)
    assert np.isneginf(p).all()


def test_check_only_validates_without_writing(any_backend):
    many = _backend.active().sgd_many
    p = np.ones(3)
    many([p], [np.ones(3)], None, lr=0.1, check_only=True)
    assert (p == 1).all()
    with pytest.raises(ValueError, match="has 2 elements"):
        many([p], [np.ones(2)], None, lr=0.1, check_only=True)


def test_a_bad_second_tensor_leaves_the_first_untouched(any_backend):
    many = _backend.active().sgd_many
    p0, p1 = np.ones(3), np.ones(3)
    with pytest.raises(ValueError, match=r"grad \(tensor 1\) has 2 elements"):
        many([p0, p1], [np.ones(3), np.ones(2)], None, lr=0.1)
    assert (p0 == 1).all() and (p1 == 1).all()


def test_list_length_mismatch_is_rejected(any_backend):
    many = _backend.active().adagrad_many
    with pytest.raises(ValueError, match="got 2 param buffers but 1 grad buffers"):
        many([np.ones(3), np.ones(3)], [np.ones(3)], [np.ones(3), np.ones(3)], clr=0.1,
             eps=1e-10)


def test_kernels_return_none_and_accept_zero_size(any_backend):
    p = np.zeros(0, np.float32)
    assert kernels.rmsprop(p, p.copy(), p.copy(), lr=0.1, alpha=0.9, eps=1e-8) is None


def test_kernels_share_signatures_with_the_reference():
    import inspect
    for name in KERNEL_CASES:
        assert (inspect.signature(getattr(kernels, name))
                == inspect.signature(getattr(reference, name)))
        assert getattr(kernels, name).__doc__ == getattr(reference, name).__doc__


def test_declarations_match_the_reference_signatures():
    import inspect

    from fastgd._checks import KERNELS
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


def test_sum_of_squares_order():
    x = np.arange(1.0, 20.0)
    lanes = [sum(float(v) ** 2 for v in x[j::8]) for j in range(8)]
    expected = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
        ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    assert reference.sum_of_squares(x) == expected
    assert reference.sum_of_squares(np.zeros(0)) == 0.0
    f32 = np.float32([1e-3, 3.0, 7.5])
    assert reference.sum_of_squares(f32) == sum(float(v) ** 2 for v in f32)


# -- the runner keeps what it checked -----------------------------------------------------------

def test_arrays_from_a_list_that_makes_them_anew_stay_alive(any_backend):
    # a list subclass returning a fresh array on each access: the array checked is the one
    # written, and it is kept alive until the kernel returns
    class Fresh(list):
        def __getitem__(self, i):
            return np.zeros(1 << 16)

    many = _backend.active().lion_many
    p, g = np.zeros(1 << 16), np.ones(1 << 16)
    many([p], [g], Fresh([None]), lr=0.1, beta1=0.9, beta2=0.99)
    np.testing.assert_array_equal(p, np.full(1 << 16, -0.1))


def test_buffers_needed_follow_the_values_the_kernel_receives(any_backend):
    # a float subclass that compares unlike its value must not make the kernel run without
    # the buffer its value needs
    class Sly(float):
        def __ne__(self, other):
            return False

    many = _backend.active().sgd_many
    p = np.zeros(3)
    with pytest.raises(TypeError, match="momentum_buffer"):
        many([p], [np.ones(3)], None, lr=0.1, momentum=Sly(0.5))
    assert (p == 0).all()


def test_missing_and_extra_buffer_lists_are_rejected_before_any_write(any_backend):
    many = _backend.active().adam_many
    p, g, m, v = np.ones(3), np.ones(3), np.zeros(3), np.zeros(3)
    scalars = dict(lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, bias_correction1=0.1,
                   bias_correction2_sqrt=0.1, amsgrad=True)
    with pytest.raises((TypeError, ValueError), match="max_exp_avg_sq"):
        many([p], [g], [m], [v], **scalars)
    with pytest.raises(TypeError, match="at most 5 buffer lists, got 6"):
        many([p], [g], [m], [v], [np.zeros(3)], [np.zeros(3)], **scalars)
    assert (p == 1).all() and (m == 0).all() and (v == 0).all()


def test_buffers_of_another_shape_but_the_same_size_are_flat_on_every_backend(any_backend):
    p, m = np.ones(3), np.ones((1, 3))
    kernels.lion(p, np.ones(3), m, lr=0.1, beta1=0.9, beta2=0.5)
    expected_p, expected_m = np.ones(3), np.ones(3)
    reference.lion(expected_p, np.ones(3), expected_m, lr=0.1, beta1=0.9, beta2=0.5)
    np.testing.assert_array_equal(p, expected_p)
    np.testing.assert_array_equal(m.reshape(-1), expected_m)
    assert m.shape == (1, 3)


@pytest.mark.parametrize("bad,error,pattern", [
    ("x", TypeError, "lion: lr must be a real number, got 'x'"),
    (10**400, ValueError, "lion: lr is too large for a float"),
    (True, TypeError, "lion: lr must be a real number, got True"),
])
def test_direct_calls_name_a_bad_scalar_alike(any_backend, bad, error, pattern):
    p = np.ones(3)
    with pytest.raises(error, match=pattern):
        _backend.active().lion_many([p], [np.ones(3)], [np.ones(3)], lr=bad, beta1=0.9,
                                    beta2=0.9)
    assert (p == 1).all()
