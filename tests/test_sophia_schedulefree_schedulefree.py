"""SGDScheduleFree and AdamWScheduleFree: against the schedulefree package (1.4.1, torch;
skipped without it), against the method written out with x, y and z (float64, here),
by hand, train()/eval(), and the conventions where optax.contrib differs.

The registry variants run against optax.contrib.schedule_free_sgd / schedule_free_adamw in
tests/test_optax_parity.py; optax has no polynomial weighting (r), which is checked here.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import fastgd

NAMES = ["SGDScheduleFree", "AdamWScheduleFree"]


def _beta(name, options):
    if name == "SGDScheduleFree":
        return options.get("momentum", 0.9)
    return options.get("betas", (0.9, 0.999))[0]


# -- the method with x, y and z (Defazio et al. 2024), float64 --------------------------------

class Theory:
    """z <- z - lr_k u(y); x <- (1 - c) x + c z; y = beta x + (1 - beta) z, with the
    schedulefree package's schedule: lr_k = lr min((k+1)/warmup, 1), lr_max the largest
    lr_k so far, weight (k+1)^r lr_max^power, c = weight / (sum of weights)."""

    def __init__(self, name, p, **options):
        self.adam = name == "AdamWScheduleFree"
        self.o = dict(fastgd.registry.get(name).defaults, **options)
        self.x = np.array(p, dtype=np.float64)
        self.z = self.x.copy()
        self.v = np.zeros_like(self.x)
        self.k, self.weight_sum, self.lr_max = 0, 0.0, 0.0

    @property
    def beta(self):
        return self.o["betas"][0] if self.adam else self.o["momentum"]

    @property
    def y(self):
        return self.beta * self.x + (1 - self.beta) * self.z

    def step(self, g):
        o, k = self.o, self.k
        g = -g if o["maximize"] else g
        lr = o["lr"] * min((k + 1) / o["warmup_steps"], 1.0) if o["warmup_steps"] else o["lr"]
        self.lr_max = max(self.lr_max, lr)
        weight = (k + 1) ** o["r"] * self.lr_max ** o["weight_lr_power"]
        self.weight_sum += weight
        c = weight / self.weight_sum if self.weight_sum else 0.0
        y = self.y
        if self.adam:
            b2 = o["betas"][1]
            self.v = b2 * self.v + (1 - b2) * g * g
            u = g / (np.sqrt(self.v / (1 - b2 ** (k + 1))) + o["eps"]) + o["weight_decay"] * y
        else:
            u = g + o["weight_decay"] * y
        self.z = self.z - lr * u
        self.x = (1 - c) * self.x + c * self.z
        self.k += 1


THEORY_OPTIONS = {
    "SGDScheduleFree": [
        dict(lr=0.1),
        dict(lr=0.2, momentum=0.5, weight_decay=0.1, warmup_steps=4),
        dict(lr=0.1, r=1.5, weight_lr_power=1.0, maximize=True, momentum=0.95),
        dict(lr=0.05, r=0.5, weight_lr_power=0.0, warmup_steps=3),
    ],
    "AdamWScheduleFree": [
        dict(lr=0.05),
        dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.1, warmup_steps=5),
        dict(lr=0.02, r=2.0, weight_lr_power=1.0, eps=1e-3, maximize=True),
        dict(lr=0.05, betas=(0.95, 0.99), r=1.0, warmup_steps=2),
    ],
}
THEORY_CASES = [(n, o) for n in NAMES for o in THEORY_OPTIONS[n]]


def _grad(p, target, scale, k):
    return scale * (p - target) + 0.05 * np.sin(k + np.arange(p.size).reshape(p.shape))


@pytest.mark.parametrize("name,options", THEORY_CASES)
def test_matches_the_method_written_with_x_y_z(name, options, rng):
    p0, target = rng.standard_normal(6), rng.standard_normal(6)
    scale = rng.uniform(0.5, 2.0, 6)
    w = p0.copy()
    opt = getattr(fastgd, name)([w], **options)
    theory = Theory(name, p0, **options)
    for k in range(40):
        if k == 25:  # a lower learning rate later: lr_max keeps the largest
            opt.param_groups[0]["lr"] *= 0.5
            theory.o["lr"] *= 0.5
        opt.step([_grad(w, target, scale, k)])
        theory.step(_grad(theory.y, target, scale, k))
        np.testing.assert_allclose(w, theory.y, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(opt.state[0]["z"], theory.z, rtol=1e-11, atol=1e-13)
    assert opt.state[0]["weight_sum"] == pytest.approx(theory.weight_sum, rel=1e-14)
    assert opt.state[0]["lr_max"] == theory.lr_max
    opt.eval()
    np.testing.assert_allclose(w, theory.x, rtol=1e-11, atol=1e-13)
    opt.train()
    np.testing.assert_allclose(w, theory.y, rtol=1e-11, atol=1e-13)


# -- the schedulefree package ------------------------------------------------------------------

def _package():
    torch = pytest.importorskip("torch")
    schedulefree = pytest.importorskip("schedulefree")
    return torch, schedulefree


PACKAGE_CASES = [(n, o) for n in NAMES for o in THEORY_OPTIONS[n] if "maximize" not in o] + [
    ("SGDScheduleFree", dict(lr=0.3, momentum=0.6, weight_decay=0.05, warmup_steps=3,
                             r=1.0, weight_lr_power=3.0)),
    ("AdamWScheduleFree", dict(lr=0.01, betas=(0.6, 0.8), weight_decay=0.2, eps=1e-6, r=0.5,
                               warmup_steps=6, weight_lr_power=0.5)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,options", PACKAGE_CASES)
def test_matches_the_schedulefree_package(any_backend, name, options, dtype, rng):
    # the package keeps the step count and the averaging weights per group and advances
    # them even for parameters without a gradient; fastgd per parameter (as optax): so
    # every parameter gets a gradient at every step here
    torch, schedulefree = _package()
    shapes = [(3, 4), (5,), ()]
    starts = [np.asarray(rng.standard_normal(s), dtype) for s in shapes]
    targets = [np.asarray(rng.standard_normal(s), dtype) for s in shapes]
    ours = [p.copy() for p in starts]
    theirs = [torch.tensor(p.copy()) for p in starts]
    opt = getattr(fastgd, name)(ours, **options)
    topt = getattr(schedulefree, name)(theirs, foreach=False, **options)
    topt.train()
    for k in range(30):
        if k == 20:
            opt.param_groups[0]["lr"] *= 0.5
            topt.param_groups[0]["lr"] *= 0.5
        if k == 12:  # a round trip through eval mode
            opt.eval(), topt.eval()
            _compare(ours, theirs, dtype)
            opt.train(), topt.train()
        opt.step([np.asarray(1.5 * (p - t), dtype) for p, t in zip(ours, targets)])
        for p, t in zip(theirs, targets):
            p.grad = 1.5 * (p.detach() - torch.from_numpy(t))
        topt.step()
    _compare(ours, theirs, dtype)
    for k, p in enumerate(theirs):
        _compare([opt.state[k]["z"]], [topt.state[p]["z"]], dtype)
        if "exp_avg_sq" in opt.state[k]:
            _compare([opt.state[k]["exp_avg_sq"]], [topt.state[p]["exp_avg_sq"]], dtype)
        assert opt.state[k]["weight_sum"] == pytest.approx(topt.param_groups[0]["weight_sum"],
                                                           rel=1e-15)
        assert opt.state[k]["lr_max"] == topt.param_groups[0]["lr_max"]
        assert opt.state[k]["step"] == topt.param_groups[0]["k"]
    opt.eval(), topt.eval()
    _compare(ours, theirs, dtype)


def _compare(ours, theirs, dtype):
    tolerance = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else \
        dict(rtol=1e-5, atol=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p, q.detach().numpy(), **tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_arguments_and_defaults_are_the_packages(name):
    _, schedulefree = _package()
    theirs = inspect.signature(getattr(schedulefree, name)).parameters
    ours = inspect.signature(getattr(fastgd, name)).parameters
    assert [n for n in theirs if n != "foreach"] == [n for n in ours if n != "maximize"]
    for n in ours:
        if n not in ("params", "maximize"):
            assert ours[n].default == theirs[n].default, n
    assert ours["maximize"].kind is inspect.Parameter.KEYWORD_ONLY


def test_momentum_message_is_the_packages():
    _, schedulefree = _package()
    for momentum in (0.0, 1.0):
        with pytest.raises(ValueError) as theirs:
            schedulefree.SGDScheduleFree([_package()[0].zeros(1)], momentum=momentum)
        with pytest.raises(ValueError) as ours:
            fastgd.SGDScheduleFree([np.zeros(1)], momentum=momentum)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("weight", [0.1, 0.7, 1 - 1 / 0.9, -1.0, 1 - 1 / 0.3, 1.0, 0.0])
def test_train_eval_interpolation_is_torch_lerp(weight, dtype, rng):
    # the formula of torch.lerp (which branch by |w|); torch's vectorised lerp fuses the
    # multiply-add, fastgd never does: they agree to rounding, and exactly at w = 0, 1, -1
    torch = pytest.importorskip("torch")
    from fastgd.optim import _torch_lerp_
    a = np.asarray(rng.standard_normal(257) * 10, dtype)
    b = np.asarray(rng.standard_normal(257), dtype)
    expected = torch.lerp(torch.from_numpy(a), torch.from_numpy(b), weight).numpy()
    ulp = np.finfo(dtype).eps * (np.abs(a) + np.abs(b)) * (1 + abs(weight))
    _torch_lerp_(a, b, weight)
    np.testing.assert_array_less(np.abs(a - expected), 2 * ulp + np.finfo(dtype).tiny)
    if weight in (0.0, 1.0, -1.0):
        np.testing.assert_array_equal(a, expected)


# -- by hand -----------------------------------------------------------------------------------

def test_sgd_first_steps_by_hand():
    w = np.array([1.0, -2.0])
    opt = fastgd.SGDScheduleFree([w], lr=0.5, momentum=0.75)
    g1 = np.array([0.5, 1.0])
    opt.step([g1])
    # c_1 = 1: x = z = y = w0 - lr g1
    np.testing.assert_array_equal(w, [0.75, -2.5])
    np.testing.assert_array_equal(opt.state[0]["z"], [0.75, -2.5])
    assert opt.state[0]["weight_sum"] == 0.25 and opt.state[0]["lr_max"] == 0.5
    opt.step([np.array([1.0, -1.0])])
    # z2 = [0.25, -2], c_2 = 1/2: x2 = [0.5, -2.25], y2 = 0.75 x2 + 0.25 z2
    np.testing.assert_array_equal(opt.state[0]["z"], [0.25, -2.0])
    np.testing.assert_array_equal(w, [0.4375, -2.1875])
    opt.eval()
    np.testing.assert_array_equal(w, [0.5, -2.25])


def test_adamw_first_step_by_hand():
    w = np.array([1.0, -1.0])
    opt = fastgd.AdamWScheduleFree([w], lr=0.1, eps=0.0, weight_decay=0.5)
    opt.step([np.array([3.0, -0.25])])
    # v / (1 - b2) = g^2: u = sign(g) + wd y; c_1 = 1: y = z = w - lr u
    np.testing.assert_allclose(w, [1.0 - 0.1 * 1.5, -1.0 - 0.1 * (-1.0 - 0.5)], rtol=1e-15)


def test_warmup_by_hand():
    w = np.zeros(1)
    opt = fastgd.SGDScheduleFree([w], lr=1.0, warmup_steps=4, momentum=0.5)
    for k in range(6):
        opt.step([np.ones(1)])
        assert opt.state[0]["lr_max"] == min((k + 1) / 4, 1.0)
    # z = -(1/4 + 2/4 + 3/4 + 1 + 1 + 1)
    assert opt.state[0]["z"][0] == -4.5
    # weights (k+1)^0 lr_max^2: 1/16, 4/16, 9/16, 1, 1, 1
    assert opt.state[0]["weight_sum"] == pytest.approx(1 / 16 + 4 / 16 + 9 / 16 + 3)


def test_zero_learning_rate_moves_nothing():
    w = np.array([1.0, 2.0])
    opt = fastgd.AdamWScheduleFree([w], lr=0.0)
    for _ in range(3):
        opt.step([np.ones(2)])
    np.testing.assert_array_equal(w, [1.0, 2.0])
    assert opt.state[0]["weight_sum"] == 0.0  # c = 0/0 taken as 0, as in the package


def test_maximize_is_minimizing_the_negated_gradient():
    for name in NAMES:
        a, b = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)
        oa = getattr(fastgd, name)([a], lr=0.1, weight_decay=0.1, maximize=True)
        ob = getattr(fastgd, name)([b], lr=0.1, weight_decay=0.1)
        for k in range(5):
            g = np.cos(a + k)
            oa.step([g])
            ob.step([-g])
        np.testing.assert_array_equal(a, b)


# -- optax's conventions -------------------------------------------------------------------------

def _optax():
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    return jax, optax


def test_stock_optax_warmup_lags_the_z_step_by_one():
    # optax.contrib.schedule_free_sgd(warmup_steps=W) gives its inner SGD the schedule at
    # its own count, from 0, and the averaging weights the schedule at count k + 1: its
    # first step has lr 0 for z and weight 1 for the average, so nothing moves. The
    # package (and fastgd) use lr (k + 1) / W for both.
    jax, optax = _optax()
    jnp = jax.numpy
    p0, g = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    tx = optax.contrib.schedule_free_sgd(0.4, warmup_steps=4, b1=0.9)
    state = tx.init(jnp.asarray(p0))
    updates, state = tx.update(jnp.asarray(g), state, jnp.asarray(p0))
    np.testing.assert_array_equal(np.asarray(optax.apply_updates(jnp.asarray(p0), updates)),
                                  p0)
    w = p0.copy()
    fastgd.SGDScheduleFree([w], lr=0.4, warmup_steps=4, momentum=0.9).step([g])
    np.testing.assert_allclose(w, p0 - 0.1 * g, rtol=1e-15)  # lr * 1/4


def test_stock_optax_warmup_schedule_is_float32():
    # optax.warmup_constant_schedule at optax's int32 step counts computes in float32 even
    # with x64: its lr after the warmup is float32(lr), so stock optax and fastgd differ by
    # ~1e-8 relative there
    jax, optax = _optax()
    value = optax.warmup_constant_schedule(0.0, 0.1, 4)(jax.numpy.int32(10))
    assert value.dtype == np.float32 and float(value) != 0.1


def test_without_warmup_optax_and_fastgd_agree_and_optax_params_are_y():
    jax, optax = _optax()
    jnp = jax.numpy
    w = np.array([1.0, -2.0, 0.5])
    p = jnp.asarray(w)
    opt = fastgd.AdamWScheduleFree([w], lr=0.05, weight_decay=0.01)
    tx = optax.contrib.schedule_free_adamw(0.05, weight_decay=0.01)
    state = tx.init(p)
    for k in range(20):
        g = np.cos(w + k)
        opt.step([g])
        updates, state = tx.update(jnp.asarray(np.cos(np.asarray(p) + k)), state, p)
        p = optax.apply_updates(p, updates)
    np.testing.assert_allclose(w, np.asarray(p), rtol=1e-12)
    x = np.asarray(optax.contrib.schedule_free_eval_params(state, p))
    opt.eval()
    np.testing.assert_allclose(w, x, rtol=1e-12)


# -- train() and eval() --------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_step_in_eval_mode_is_refused_and_changes_nothing(name):
    w = np.ones(3)
    opt = getattr(fastgd, name)([w], lr=0.1)
    opt.step([np.ones(3)])
    opt.eval()
    before = (w.copy(), opt.state_dict())
    with pytest.raises(RuntimeError, match="eval mode.*call train"):
        opt.step([np.ones(3)])
    np.testing.assert_array_equal(w, before[0])
    assert opt.state[0]["step"] == 1
    np.testing.assert_array_equal(opt.state[0]["z"], before[1]["state"][0]["z"])
    opt.train()
    opt.step([np.ones(3)])
    assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("name", NAMES)
def test_modes_before_any_step_and_repeated_switches(name):
    w = np.array([1.0, 2.0])
    opt = getattr(fastgd, name)([w], lr=0.1)
    assert opt.param_groups[0]["train_mode"] is True
    opt.eval()  # no z yet: x = y = the parameters
    np.testing.assert_array_equal(w, [1.0, 2.0])
    assert opt.param_groups[0]["train_mode"] is False
    opt.train()
    for _ in range(3):
        opt.step([np.array([1.0, -1.0])])
    y = w.copy()
    opt.eval()
    x = w.copy()
    opt.eval()  # already in eval mode: nothing
    np.testing.assert_array_equal(w, x)
    opt.train()
    opt.train()
    np.testing.assert_allclose(w, y, rtol=1e-15)
    assert not np.allclose(x, y)


def test_each_group_switches_with_its_own_beta():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.SGDScheduleFree([{"params": [a]}, {"params": [b], "momentum": 0.5}], lr=0.1)
    for k in range(4):
        opt.step([np.array([1.0, float(k)]), np.array([1.0, float(k)])])
    za, zb = opt.state[0]["z"], opt.state[1]["z"]
    ya, yb = a.copy(), b.copy()
    opt.eval()
    np.testing.assert_allclose(a, ya + (1 - 1 / 0.9) * (za - ya), rtol=1e-14)
    np.testing.assert_allclose(b, zb - (zb - yb) * 2.0, rtol=1e-14)  # |1 - 1/0.5| >= 0.5


def test_eval_mode_is_saved_and_loaded():
    w = np.zeros(3)
    opt = fastgd.AdamWScheduleFree([w], lr=0.1)
    for _ in range(3):
        opt.step([np.array([1.0, -1.0, 2.0])])
    y = w.copy()
    opt.eval()  # checkpoints are taken in eval mode: the parameters are x
    saved, x = opt.state_dict(), w.copy()
    assert saved["param_groups"][0]["train_mode"] is False
    v = x.copy()
    opt2 = fastgd.AdamWScheduleFree([v], lr=0.1)
    opt2.load_state_dict(saved)
    with pytest.raises(RuntimeError):
        opt2.step([np.ones(3)])
    opt2.train()
    np.testing.assert_allclose(v, y, rtol=1e-15)


def test_a_bad_z_or_a_bad_hyperparameter_stops_the_switch_before_any_change():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.SGDScheduleFree([{"params": [a]}, {"params": [b]}], lr=0.1)
    opt.step([np.ones(2), np.ones(2)])
    opt.step([np.ones(2), -np.ones(2)])
    before = a.copy(), b.copy()
    opt.state[1]["z"] = np.zeros(3)
    with pytest.raises(ValueError, match="state of parameter 1: z must be an array"):
        opt.eval()
    np.testing.assert_array_equal(a, before[0])
    assert opt.param_groups[0]["train_mode"] and opt.param_groups[1]["train_mode"]
    opt.state[1]["z"] = np.zeros(2)
    opt.param_groups[1]["momentum"] = 1.0
    with pytest.raises(ValueError, match="Momentum must be between 0 and 1 exclusive: 1.0"):
        opt.eval()
    np.testing.assert_array_equal(a, before[0])


def test_a_group_added_in_eval_mode_starts_in_train_mode():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.SGDScheduleFree([a], lr=0.1)
    opt.step([np.ones(2)])
    opt.eval()
    opt.add_param_group({"params": [b]})
    assert opt.param_groups[1]["train_mode"]
    with pytest.raises(RuntimeError):
        opt.step([np.ones(2), np.ones(2)])
    opt.step([None, np.ones(2)])  # the group in train mode alone may step
    opt.train()
    opt.step([np.ones(2), np.ones(2)])


# -- state per parameter -------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_without_gradient_keeps_its_own_schedule(name):
    # unlike the package (one count per group), each parameter counts its own steps and
    # weights, as optax does with a state per parameter
    a, b, c = np.ones(2), np.ones(2), np.ones(2)
    opt = getattr(fastgd, name)([a, b], lr=0.1, warmup_steps=2)
    alone = getattr(fastgd, name)([c], lr=0.1, warmup_steps=2)
    for k in range(5):
        g = np.array([1.0, -0.5]) * (k + 1)
        opt.step([g, None if k in (1, 2) else g])
        if k not in (1, 2):
            alone.step([g])
    np.testing.assert_array_equal(b, c)
    assert opt.state[1]["step"] == 3 and opt.state[0]["step"] == 5


@pytest.mark.parametrize("name", NAMES)
def test_an_overflowing_averaging_weight_is_an_error_before_any_change(name):
    w = np.ones(2)
    opt = getattr(fastgd, name)([w], lr=0.1, r=700.0)
    opt.step([np.ones(2)])
    opt.step([np.ones(2)])  # 2**700 is fine, 3**700 is not a float
    before = w.copy()
    with pytest.raises(ValueError, match="overflows at step 3"):
        opt.step([np.ones(2)])
    np.testing.assert_array_equal(w, before)
    assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("name,options,pattern", [
    ("SGDScheduleFree", dict(momentum=0.0), "Momentum must be between 0 and 1 exclusive: 0.0"),
    ("SGDScheduleFree", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("SGDScheduleFree", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("SGDScheduleFree", dict(warmup_steps=-1), "Invalid warmup_steps value: -1"),
    ("SGDScheduleFree", dict(warmup_steps=2.5), "Invalid warmup_steps value: 2.5"),
    ("SGDScheduleFree", dict(r=-1.0), "Invalid r value: -1.0"),
    ("AdamWScheduleFree", dict(betas=(0.0, 0.999)), "Invalid beta parameter at index 0: 0.0"),
    ("AdamWScheduleFree", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("AdamWScheduleFree", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("AdamWScheduleFree", dict(weight_lr_power=-2.0), "Invalid weight_lr_power value: -2.0"),
    ("AdamWScheduleFree", dict(warmup_steps=math.inf), "Invalid warmup_steps value: inf"),
])
def test_invalid_hyperparameters(name, options, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(fastgd, name)([np.zeros(2)], **options)
