"""SGDScheduleFree and AdamWScheduleFree: against the schedulefree package (1.4.1, torch;
skipped without it), against the method written out with x, y and z (float64, here),
by hand, train()/eval(), and the conventions where optax.contrib differs.

The registry variants run against optax.contrib.schedule_free_sgd / schedule_free_adamw in
tests/parity/test_optax.py; optax has no polynomial weighting (r), which is checked here.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import fastgd

NAMES = ["SGDScheduleFree", "AdamWScheduleFree"]


def _beta(name, options):
    if name == "SGDScheduleFree":
        return options.get("momentum", 0.9)
    return options.get("betas", (0.9, 0.999))[0]


class Theory:
    """z <- z - lr_k u(y); x <- (1 - c) x + c z; y = beta x + (1 - beta) z, with the
    schedulefree package's schedule: lr_k = lr min((k+1)/warmup, 1), lr_max the largest
    lr_k so far, weight (k+1)^r lr_max^power, c = weight / (sum of weights)."""

    def __init__(self, name, p, **options):
        self.adam = name == "AdamWScheduleFree"
        self.o = dict(fastgd.optim.registry.get(name).defaults, **options)
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
    rounding = ["stochastic_rounding", "seed"]  # fastgd's own, for 16-bit parameters
    assert list(ours)[-2:] == rounding
    assert [n for n in theirs if n != "foreach"] == [n for n in ours
                                                     if n not in ["maximize", *rounding]]
    for n in ours:
        if n not in ("params", "maximize", *rounding):
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
    from fastgd.optim.schedule_free import _torch_lerp_
    a = np.asarray(rng.standard_normal(257) * 10, dtype)
    b = np.asarray(rng.standard_normal(257), dtype)
    expected = torch.lerp(torch.from_numpy(a), torch.from_numpy(b), weight).numpy()
    ulp = np.finfo(dtype).eps * (np.abs(a) + np.abs(b)) * (1 + abs(weight))
    _torch_lerp_(a, b, weight)
    np.testing.assert_array_less(np.abs(a - expected), 2 * ulp + np.finfo(dtype).tiny)
    if weight in (0.0, 1.0, -1.0):
        np.testing.assert_array_equal(a, expected)
