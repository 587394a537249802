"""Sophia: the official SophiaG update, update_hessian(), hessian_due().

The oracles: a float64 transcription of the official code (github.com/Liuhong99/Sophia,
``sophia.py``: ``update_hessian`` averages ``g*g``, ``step(bs=...)`` divides by
``rho * bs * h + 1e-15``), written here independently of fastgd.reference; steps computed
by hand. optax.contrib.sophia, where it computes the same update (b1 = 0: optax
bias-corrects the momentum, the official code does not), is in tests/parity/test_optax.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastgd
from fastgd.optim import hessian


class OfficialSophiaG:
    """SophiaG of the official repository for a list of float64 arrays: ``update_hessian``
    takes the gradients of the sampled-label loss, ``step`` the batch size ``bs``."""

    def __init__(self, params, lr, betas, rho, weight_decay, maximize=False):
        self.p = [np.array(p, dtype=np.float64) for p in params]
        self.lr, (self.b1, self.b2), self.rho, self.wd = lr, betas, rho, weight_decay
        self.maximize = maximize
        self.m = [np.zeros_like(p) for p in self.p]
        self.h = [np.zeros_like(p) for p in self.p]

    def update_hessian(self, sampled_grads):
        for h, g in zip(self.h, sampled_grads):
            h *= self.b2
            h += (1 - self.b2) * g * g

    def step(self, grads, bs):
        for p, m, h, g in zip(self.p, self.m, self.h, grads):
            g = -g if self.maximize else g
            p *= 1 - self.lr * self.wd
            m *= self.b1
            m += (1 - self.b1) * g
            ratio = np.clip(np.abs(m) / (self.rho * bs * h + 1e-15), None, 1)
            p -= self.lr * np.sign(m) * ratio


OFFICIAL_OPTIONS = [
    dict(lr=0.05, betas=(0.965, 0.99), rho=0.04, weight_decay=0.1),
    dict(lr=0.02, betas=(0.9, 0.5), rho=1.0, weight_decay=0.0),
    dict(lr=0.05, betas=(0.5, 0.9), rho=0.3, weight_decay=0.2, maximize=True),
]


@pytest.mark.parametrize("options", OFFICIAL_OPTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_matches_the_official_sophiag(any_backend, options, dtype, rng):
    shapes, bs, k = [(4, 3), (5,), ()], 16, 3
    start = [rng.standard_normal(s) for s in shapes]
    ours = [p.astype(dtype) for p in start]
    opt = fastgd.Sophia(ours, update_interval=k, **options)
    official = OfficialSophiaG([p.astype(dtype) for p in start], **options)
    unclipped = 0  # coordinates whose step was smaller than lr (|m| < rho h)
    for step in range(1, 31):
        grads = [rng.standard_normal(s) * 0.3 for s in shapes]
        opt.step([g.astype(dtype) for g in grads])
        unclipped += sum(int(np.sum(np.abs(s["exp_avg"]) < options["rho"] * s["hessian"]))
                         for s in opt.state.values())
        official.step([g.astype(dtype).astype(np.float64) for g in grads], bs)
        if opt.hessian_due():
            assert step % k == 0
            sampled = [rng.standard_normal(s) for s in shapes]
            opt.update_hessian([np.asarray(bs * g * g, dtype=dtype) for g in sampled])
            official.update_hessian([g.astype(dtype).astype(np.float64) for g in sampled])
    tolerance = dict(rtol=1e-11, atol=1e-13) if dtype == np.float64 else \
        dict(rtol=2e-4, atol=2e-5)
    for k, (p, q) in enumerate(zip(ours, official.p)):
        np.testing.assert_allclose(p, q, **tolerance, err_msg=f"parameter {k}")
        np.testing.assert_allclose(opt.state[k]["exp_avg"], official.m[k], **tolerance)
        np.testing.assert_allclose(opt.state[k]["hessian"], bs * official.h[k], **tolerance)
    assert unclipped > 20  # the Hessian estimates mattered


def test_first_steps_by_hand():
    w = np.array([1.0, -2.0, 0.5])
    opt = fastgd.Sophia([w], lr=0.1)  # weight_decay 0.1, betas (0.965, 0.99), h = 0
    opt.step([np.array([1.0, -1.0, 0.0])])
    # p * (1 - 0.01), then -lr * sign(m) (|m| / 1e-15 clipped to 1; m = 0 moves nothing)
    np.testing.assert_allclose(opt.state[0]["exp_avg"], [0.035, -0.035, 0.0], rtol=1e-14)
    np.testing.assert_allclose(w, [0.89, -1.88, 0.495], rtol=1e-15)

    w = np.zeros(3)
    opt = fastgd.Sophia([w], lr=0.5, betas=(0.5, 0.75), rho=2.0, weight_decay=0.0, eps=0.0)
    opt.update_hessian([np.array([4.0, 4.0, -1.0])])  # before any step: state made here
    assert opt.state[0]["step"] == 0
    np.testing.assert_array_equal(opt.state[0]["hessian"], [1.0, 1.0, -0.25])
    opt.step([np.array([1.0, 8.0, 1.0])])
    # m = [0.5, 4, 0.5]; rho * max(h, 0) = [2, 2, 0]; ratio [0.25, 2 -> 1, inf -> 1]
    np.testing.assert_array_equal(w, [-0.125, -0.5, -0.5])
    assert opt.state[0]["step"] == 1


def test_a_negative_hessian_average_gives_a_sign_step():
    # Hutchinson estimates can be negative; the official formula would then step uphill
    # (a negative ratio). fastgd divides by rho * max(h, 0) + eps, as the first SophiaH did.
    w = np.zeros(2)
    opt = fastgd.Sophia([w], lr=0.1, betas=(0.0, 0.0), rho=1.0, weight_decay=0.0, eps=0.0)
    opt.update_hessian([np.array([-1.0, 1.0])])
    opt.step([np.array([0.5, 0.5])])
    np.testing.assert_array_equal(w, [-0.1, -0.05])


def test_sophia_without_hessian_is_a_sign_method():
    # until update_hessian, |m| / eps clips to 1: p <- p(1 - lr wd) - lr sign(m)
    w = np.array([3.0, -3.0])
    opt = fastgd.Sophia([w], lr=0.01, weight_decay=0.0)
    for g in ([1e-6, -5.0], [2e-6, -1e3]):
        opt.step([np.array(g)])
    np.testing.assert_allclose(w, [2.98, -2.98], rtol=1e-15)


def test_maximize_is_minimizing_the_negated_gradient():
    a, b = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)
    oa = fastgd.Sophia([a], lr=0.1, maximize=True, rho=0.5)
    ob = fastgd.Sophia([b], lr=0.1, rho=0.5)
    for k in range(4):
        g = np.cos(a + k)
        oa.step([g])
        ob.step([-g])
        oa.update_hessian([g * g])
        ob.update_hessian([g * g])
    np.testing.assert_array_equal(a, b)


def _two_params(dtype=np.float64):
    a, b = np.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3), np.ones(4, dtype)
    opt = fastgd.Sophia([{"params": [a]}, {"params": [b], "betas": (0.9, 0.5)}], lr=0.1)
    opt.step([np.ones((2, 3), dtype), np.full(4, 0.5, dtype)])
    return opt, a, b


def test_update_hessian_uses_each_groups_beta2_and_skips_none():
    opt, a, b = _two_params()
    opt.update_hessian([np.full((2, 3), 2.0), np.full(4, 4.0)])
    np.testing.assert_allclose(opt.state[0]["hessian"], 0.01 * 2.0, rtol=1e-15)
    np.testing.assert_array_equal(opt.state[1]["hessian"], 0.5 * 4.0)
    opt.update_hessian([None, np.full(4, 4.0)])
    np.testing.assert_allclose(opt.state[0]["hessian"], 0.02, rtol=1e-15)
    np.testing.assert_array_equal(opt.state[1]["hessian"], 3.0)


def test_update_hessian_before_any_step_starts_the_state():
    a, b = np.ones(3), np.ones(2)
    opt = fastgd.Sophia([a, b])
    opt.update_hessian([np.full(3, 5.0), None])
    assert set(opt.state) == {0}
    assert opt.state[0]["step"] == 0 and (opt.state[0]["exp_avg"] == 0).all()
    np.testing.assert_allclose(opt.state[0]["hessian"], 0.05, rtol=1e-14)
    assert (a == 1).all()


@pytest.mark.parametrize("estimates,error,pattern", [
    (np.ones(3), TypeError, "estimates must be a list"),
    ([np.ones((2, 3))], ValueError, "got 1 estimates for 2 parameters"),
    ([np.ones((2, 3)), np.ones(5)], ValueError, r"estimates\[1\] has shape \(5,\).*\(4,\)"),
    ([np.ones((2, 3)), np.ones(4, np.float32)], TypeError, r"estimates\[1\] has dtype float32"),
    ([np.ones((2, 3)), [1.0] * 4], TypeError, r"estimates\[1\] must be a numpy.ndarray"),
])
def test_bad_estimates_change_nothing(estimates, error, pattern):
    opt, a, b = _two_params()
    before = opt.state_dict()
    with pytest.raises(error, match=pattern):
        opt.update_hessian(estimates)
    after = opt.state_dict()
    for i in before["state"]:
        for key, value in before["state"][i].items():
            np.testing.assert_array_equal(after["state"][i][key], value)


def test_a_bad_estimate_for_a_new_parameter_creates_no_state():
    a, b = np.ones(3), np.ones(2)
    opt = fastgd.Sophia([a, b])
    with pytest.raises(ValueError, match=r"estimates\[1\]"):
        opt.update_hessian([np.ones(3), np.ones(3)])
    assert opt.state == {}


def test_a_broken_state_in_a_later_group_rejects_the_whole_update():
    opt, a, b = _two_params()
    h0 = opt.state[0]["hessian"].copy()
    opt.state[1]["hessian"] = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match="float32"):
        opt.update_hessian([np.ones((2, 3)), np.ones(4)])
    np.testing.assert_array_equal(opt.state[0]["hessian"], h0)


def test_an_invalid_changed_hyperparameter_is_caught_by_update_hessian():
    opt, a, b = _two_params()
    opt.param_groups[1]["betas"] = (0.9, 1.5)
    h = opt.state[0]["hessian"].copy()
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.5"):
        opt.update_hessian([np.ones((2, 3)), np.ones(4)])
    np.testing.assert_array_equal(opt.state[0]["hessian"], h)


def test_estimates_that_are_views_or_state_are_read_as_passed():
    opt, a, b = _two_params()
    ref, _, _ = _two_params()
    strided = np.ones((2, 6))[:, ::2] * 3.0  # not contiguous
    opt.update_hessian([strided, np.full(4, 2.0)])
    ref.update_hessian([np.full((2, 3), 3.0), np.full(4, 2.0)])
    # parameter 0's estimate is its own average; parameter 1's a view of parameter 0's
    # average, which the first call (group 0) writes before the second reads it
    h0 = opt.state[0]["hessian"]
    ref.update_hessian([ref.state[0]["hessian"].copy(), ref.state[0]["hessian"].ravel()[:4]
                        .copy()])
    opt.update_hessian([h0, h0.ravel()[:4]])
    for k in range(2):
        np.testing.assert_array_equal(opt.state[k]["hessian"], ref.state[k]["hessian"])
    assert opt.state[0]["hessian"] is h0


def test_update_hessian_gives_the_same_bits_on_every_backend(any_backend):
    results = {}
    for backend in (fastgd.backend(), "numpy"):
        with fastgd.use_backend(backend):
            for dtype in (np.float32, np.float64):
                rng = np.random.default_rng(5)
                w = [np.asarray(rng.standard_normal(s), dtype) for s in [(3, 4), (9,)]]
                opt = fastgd.Sophia(w, lr=0.05, rho=0.02, update_interval=2)
                for _ in range(8):
                    opt.step([np.asarray(rng.standard_normal(p.shape), dtype) for p in w])
                    if opt.hessian_due():
                        opt.update_hessian([np.asarray(rng.uniform(0, 3, p.shape), dtype)
                                            for p in w])
                results[backend, dtype] = w, opt.state_dict()
    for dtype in (np.float32, np.float64):
        (ours, ours_sd), (ref, ref_sd) = results[fastgd.backend(), dtype], \
            results["numpy", dtype]
        for p, q in zip(ours, ref):
            np.testing.assert_array_equal(p, q)
        for i in ref_sd["state"]:
            for key in ("exp_avg", "hessian"):
                np.testing.assert_array_equal(ours_sd["state"][i][key], ref_sd["state"][i][key])


def test_state_dict_round_trip_with_hessian_continues_bit_identically():
    def run(opt, w, seed, steps):
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            opt.step([rng.standard_normal(3)])
            if opt.hessian_due():
                opt.update_hessian([rng.uniform(0, 2, 3)])

    w = np.zeros(3)
    opt = fastgd.Sophia([w], lr=0.1, update_interval=2)
    run(opt, w, 0, 5)
    saved, snapshot = opt.state_dict(), w.copy()
    run(opt, w, 1, 6)
    opt2 = fastgd.Sophia([snapshot], lr=9.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["update_interval"] == 2
    run(opt2, snapshot, 1, 6)
    np.testing.assert_array_equal(snapshot, w)


def test_hessian_due_after_every_update_interval_steps():
    w = np.zeros(2)
    opt = fastgd.Sophia([w])
    assert not opt.hessian_due()
    due = []
    for _ in range(30):
        opt.step([np.ones(2)])
        due.append(opt.hessian_due())
    assert [s for s, d in zip(range(1, 31), due) if d] == [10, 20, 30]
    opt.param_groups[0]["update_interval"] = 4
    assert not opt.hessian_due()
    opt.step([np.ones(2)]), opt.step([np.ones(2)])
    assert opt.hessian_due()  # step 32


def test_hessian_due_per_group_and_with_parameters_that_skip_steps():
    a, b = np.zeros(2), np.zeros(2)
    opt = fastgd.Sophia([{"params": [a]}, {"params": [b], "update_interval": 3}])
    opt.step([np.ones(2), None])
    opt.step([np.ones(2), np.ones(2)])
    assert not opt.hessian_due()
    opt.step([None, np.ones(2)])  # group 1's latest step is 2, group 0's 2
    opt.step([None, np.ones(2)])  # group 1 at 3
    assert opt.hessian_due()


def test_hessian_due_checks_a_changed_update_interval():
    opt = fastgd.Sophia([np.zeros(2)])
    opt.step([np.ones(2)])
    opt.param_groups[0]["update_interval"] = 0
    with pytest.raises(ValueError, match="Invalid update_interval value: 0"):
        opt.hessian_due()


@pytest.mark.parametrize("options,pattern", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(betas=(1.0, 0.99)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (dict(rho=-0.5), "Invalid rho value: -0.5"),
    (dict(weight_decay=-1e-3), "Invalid weight_decay value: -0.001"),
    (dict(eps=-1e-15), "Invalid epsilon value: -1e-15"),
    (dict(update_interval=0), "Invalid update_interval value: 0"),
    (dict(update_interval=2.5), "Invalid update_interval value: 2.5"),
    (dict(update_interval=float("inf")), "Invalid update_interval value: inf"),
])
def test_invalid_hyperparameters(options, pattern):
    with pytest.raises(ValueError, match=pattern):
        fastgd.Sophia([np.zeros(2)], **options)


def test_defaults_and_signature():
    import inspect
    signature = inspect.signature(fastgd.Sophia)
    assert list(signature.parameters) == ["params", "lr", "betas", "rho", "weight_decay", "eps",
                                          "update_interval", "maximize", "stochastic_rounding",
                                          "seed"]
    assert signature.parameters["maximize"].kind is inspect.Parameter.KEYWORD_ONLY
    opt = fastgd.Sophia([np.zeros(1)], update_interval=5.0)  # a whole number as a float
    assert opt.defaults == dict(lr=1e-4, betas=(0.965, 0.99), rho=0.04, weight_decay=0.1,
                                eps=1e-15, update_interval=5.0, maximize=False)
    assert "update_hessian" in dir(opt) and opt.update_hessian.__doc__


def _softmax_regression(rng, n=64, d=5, c=4):
    X = rng.standard_normal((n, d))
    W_true = rng.standard_normal((c, d))
    y = np.argmax(X @ W_true.T + 0.5 * rng.standard_normal((n, c)), axis=1)
    return X, y


def _logits(W, b, X):
    return X @ W.T + b


def _mean_ce_grad(W, b, X, labels):
    z = _logits(W, b, X)
    P = np.exp(z - z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    G = P.copy()
    G[np.arange(len(labels)), labels] -= 1
    G /= len(labels)
    return [G.T @ X, G.sum(axis=0)]


def _mean_ce(W, b, X, y):
    z = _logits(W, b, X)
    top = z.max(axis=1)
    return float(np.mean(top + np.log(np.exp(z - top[:, None]).sum(axis=1))
                         - z[np.arange(len(y)), y]))


def test_sophia_with_gauss_newton_bartlett_matches_the_official_loop():
    # The official loop: after steps k, 2k, ... the labels are sampled from the model on
    # the batch and update_hessian averages g*g; the step divides by rho * bs * h.
    X, y = _softmax_regression(np.random.default_rng(0))
    bs, k = len(y), 5
    W, b = np.zeros((4, 5)), np.zeros(4)
    opt = fastgd.Sophia([W, b], lr=0.05, rho=0.05, weight_decay=0.0, update_interval=k)
    official = OfficialSophiaG([W, b], lr=0.05, betas=(0.965, 0.99), rho=0.05,
                               weight_decay=0.0)
    ours_rng, their_rng = np.random.default_rng(3), np.random.default_rng(3)
    first = _mean_ce(W, b, X, y)
    for _ in range(60):
        opt.step(_mean_ce_grad(W, b, X, y))
        official.step(_mean_ce_grad(*official.p, X, y), bs)
        if opt.hessian_due():
            opt.update_hessian(hessian.gauss_newton_bartlett(
                _logits(W, b, X), lambda labels: _mean_ce_grad(W, b, X, labels), ours_rng))
            labels = hessian.sample_labels(_logits(*official.p, X), their_rng)
            official.update_hessian(_mean_ce_grad(*official.p, X, labels))
    np.testing.assert_allclose(W, official.p[0], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(b, official.p[1], rtol=1e-11, atol=1e-13)
    assert _mean_ce(W, b, X, y) < 0.7 * first
