"""fastgd.LBFGS against torch.optim.LBFGS (skipped without torch): the iterates, losses and
state over several steps, in float64 within 1e-10, on smooth problems (least squares,
logistic regression, Rosenbrock), for every option set of OPTIM_DB["LBFGS"] (torch's
optim_inputs_func_lbfgs and history overflow), and torch's error inputs
(optim_error_inputs_func_lbfgs, i.e. get_error_inputs_for_all_optims) in their NumPy
meaning, with the same error class."""

from __future__ import annotations

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-10, 1e-12
STEPS = 4
SHAPES = [(3,), (2, 4), ()]  # several parameters of several shapes, one flat vector
N = 12


class Problem:
    """An objective of the flat parameter vector, for NumPy and for torch (autograd)."""

    def __init__(self, kind, n, rng):
        self.kind = kind
        if kind == "least_squares":
            self.A = rng.standard_normal((3 * n, n))
            self.b = rng.standard_normal(3 * n)
        elif kind == "logistic":
            self.A = rng.standard_normal((4 * n, n))
            self.b = (rng.random(4 * n) < 0.5).astype(float)
        # Rosenbrock from near its valley: from the classic start (-1.2, 1, ...) the
        # fixed-step iterates amplify last-bit differences (any change of summation order)
        # to 2e-2 after 80 iterations -- torch against itself from a start one ulp away
        # differs as much (3.9e-12, 2.3e-7, 3.3e-5, 1.9e-2 after steps 1-4).
        self.x0 = (1 + 0.3 * rng.standard_normal(n) if kind == "rosenbrock"
                   else 0.5 * rng.standard_normal(n))

    def numpy(self, x):
        if self.kind == "least_squares":
            r = self.A @ x - self.b
            return 0.5 * float(r @ r), self.A.T @ r
        if self.kind == "logistic":
            z = self.A @ x
            p = 1 / (1 + np.exp(-z))
            loss = float(np.mean(np.logaddexp(0, z) - self.b * z)) + 0.05 * float(x @ x)
            return loss, self.A.T @ (p - self.b) / len(z) + 0.1 * x
        a, b = x[:-1], x[1:]
        loss = float(np.sum(100 * (b - a * a) ** 2 + (1 - a) ** 2))
        g = np.zeros_like(x)
        g[:-1] = -400 * a * (b - a * a) - 2 * (1 - a)
        g[1:] += 200 * (b - a * a)
        return loss, g

    def torch(self, x):
        if self.kind == "least_squares":
            r = torch.tensor(self.A) @ x - torch.tensor(self.b)
            return 0.5 * (r @ r)
        if self.kind == "logistic":
            z = torch.tensor(self.A) @ x
            b = torch.tensor(self.b)
            return torch.mean(torch.nn.functional.softplus(z) - b * z) + 0.05 * (x @ x)
        a, b = x[:-1], x[1:]
        return torch.sum(100 * (b - a * a) ** 2 + (1 - a) ** 2)


def _split(flat, shapes):
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[offset:offset + size].reshape(shape).copy())
        offset += size
    return out


def _torch_options(options):
    return {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v)
            for k, v in options.items()}


def run_both(problem, options, shapes=SHAPES, steps=STEPS):
    """Run fastgd and torch side by side; yield after each step (ours, theirs)."""
    params = _split(problem.x0, shapes)
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    opt = fastgd.LBFGS(params, **options)
    topt = torch.optim.LBFGS(tparams, **_torch_options(options))

    def closure():
        loss, g = problem.numpy(np.concatenate([p.reshape(-1) for p in params]))
        return loss, _split(g, shapes)

    def tclosure():
        topt.zero_grad()
        loss = problem.torch(torch.cat([p.reshape(-1) for p in tparams]))
        loss.backward()
        return loss

    for _ in range(steps):
        ours = opt.step(closure)
        theirs = float(topt.step(tclosure).detach())
        yield opt, topt, params, tparams, ours, theirs


def _close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)


def assert_same_state(opt, topt, tparams, scale):
    """The state of both, entry by entry: the counters equal (the same control flow), the
    step length, loss and arrays within 1e-10 relative, or 1e-10 of ``scale`` (the
    problem's magnitude: its first loss, gradient and start) absolute. The history's
    scalars ``ro`` and ``H_diag`` are ratios of products of differences of nearly equal
    gradients once the iterates converge, made of rounding there: within 1e-6 (they agree
    within 1e-10 while the gradients are large, and the direction ``d`` they make is
    compared within 1e-10 throughout)."""
    ours = opt.state_dict()["state"]
    theirs = topt.state[tparams[0]]
    if not theirs:
        assert ours == {}
        return
    ours = ours[0]
    assert set(ours) == set(theirs) - {"al"}
    for key in ("func_evals", "n_iter"):
        assert ours[key] == theirs[key], key

    def close(a, b, key, what="vector"):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale[what], err_msg=key)

    _close(float(ours["t"]), float(theirs["t"]), "t")
    close(float(ours["prev_loss"]), float(theirs["prev_loss"]), "prev_loss", "loss")
    for key in ("d", "prev_flat_grad"):
        close(ours[key], theirs[key].numpy(), key)
    for key in ("old_dirs", "old_stps"):
        assert len(ours[key]) == len(theirs[key]) == len(ours["ro"]), key
        for a, b in zip(ours[key], theirs[key]):
            close(a, b.numpy(), key)
    np.testing.assert_allclose(float(ours["H_diag"]), float(theirs["H_diag"]), rtol=1e-6)
    np.testing.assert_allclose(ours["ro"], [float(r) for r in theirs["ro"]], rtol=1e-6)


def _scale(problem):
    loss, g = problem.numpy(problem.x0)
    return {"loss": abs(loss), "vector": max(1.0, float(np.abs(g).max()),
                                              float(np.abs(problem.x0).max()))}


CASES = [(kind, k) for kind in ("least_squares", "logistic", "rosenbrock")
         for k in range(len(OPTIM_DB["LBFGS"]))]


@pytest.mark.parametrize("kind,variant", CASES,
                         ids=[f"{kind}-{OPTIM_DB['LBFGS'][k]}" for kind, k in CASES])
def test_same_iterates_as_torch(this_backend, kind, variant):
    rng = np.random.default_rng(7)
    problem = Problem(kind, N, rng)
    options = OPTIM_DB["LBFGS"][variant]
    scale = _scale(problem)
    for opt, topt, params, tparams, ours, theirs in run_both(problem, options):
        _close(ours, theirs, "loss")
        for p, tp in zip(params, tparams):
            _close(p, tp.detach().numpy(), "parameters")
        assert_same_state(opt, topt, tparams, scale)


def test_history_overflows_as_torch_keeps_it():
    """history_size 3 over 3 x 12 iterations: the oldest pairs are dropped, as torch's."""
    problem = Problem("rosenbrock", N, np.random.default_rng(1))
    options = {"history_size": 3, "max_iter": 12}
    seen = 0
    for opt, *_ in run_both(problem, options, steps=3):
        seen = max(seen, opt.state[0]["n_iter"])
        assert len(opt.state[0]["old_dirs"]) == 3
    assert seen > 3 * 3


def test_a_torch_state_dict_loads_and_continues_alike():
    problem = Problem("logistic", N, np.random.default_rng(3))
    options = {"history_size": 4, "max_iter": 5, "line_search_fn": "strong_wolfe"}
    runs = run_both(problem, options, steps=2)
    opt, topt, params, tparams, *_ = next(runs)
    saved = topt.state_dict()  # tensors, torch's layout (with its scratch "al")
    as_numpy = {"state": {i: {k: (v.numpy() if torch.is_tensor(v) else
                                  [x.numpy() if torch.is_tensor(x) else x for x in v]
                                  if isinstance(v, list) else v)
                              for k, v in s.items()} for i, s in saved["state"].items()},
                "param_groups": saved["param_groups"]}
    mine = [p.copy() for p in params]
    fresh = fastgd.LBFGS(mine, **options)
    fresh.load_state_dict(as_numpy)
    assert_same_state(fresh, topt, tparams, _scale(problem))

    def closure():
        loss, g = problem.numpy(np.concatenate([p.reshape(-1) for p in mine]))
        return loss, _split(g, SHAPES)

    loss = fresh.step(closure)
    *_, theirs = next(runs)  # torch's second step
    _close(loss, theirs, "loss")
    for p, tp in zip(mine, tparams):
        _close(p, tp.detach().numpy(), "parameters")
    assert_same_state(fresh, topt, tparams, _scale(problem))


# torch's optim_error_inputs_func_lbfgs: get_error_inputs_for_all_optims on the CPU, in
# their NumPy meaning (a Parameter is an array; a Tensor lr an array lr)

def test_error_invalid_param_type():
    with pytest.raises(TypeError):  # torch: TypeError, "should be an iterable of Tensors"
        fastgd.LBFGS(np.ones((1, 1)))


def test_error_duplicate_parameters_across_groups():
    p = np.ones((1, 1))
    with pytest.raises(ValueError):  # torch: ValueError, "appear in more than one group"
        fastgd.LBFGS([{"params": p}, {"params": p}])


def test_error_lr_array_of_several_elements():
    with pytest.raises(ValueError, match="1 element"):  # torch: "Tensor lr must be 1-element"
        fastgd.LBFGS([np.ones((1, 1))], lr=np.array([0.001, 0.001]))
    torch_lr = torch.optim.LBFGS([torch.ones(1, requires_grad=True)],
                                 lr=torch.tensor(0.001, dtype=torch.float64)).param_groups[0]["lr"]
    ours = fastgd.LBFGS([np.ones((1, 1))], lr=np.array(0.001)).param_groups[0]["lr"]
    assert ours == float(torch_lr)


def test_error_duplicate_parameters_in_a_group():
    """torch warns (UserWarning, "a parameter group with duplicate parameters") and then
    steps the parameter twice over; fastgd refuses parameters that share memory for every
    optimizer (ValueError), since a step would write the same array twice."""
    p = np.ones((1, 1))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        t = torch.ones(1, 1, requires_grad=True)
        torch.optim.LBFGS([t, t])
    with pytest.raises(ValueError, match="share memory"):
        fastgd.LBFGS([p, p])


# torch's remaining two error inputs mix named and unnamed parameters ("all optimizer
# params should be with/without names"); fastgd's parameters have no names, so they have no
# NumPy meaning. A (name, array) pair is not an array:
def test_named_parameters_are_not_arrays():
    with pytest.raises(TypeError, match="numpy arrays"):
        fastgd.LBFGS([("weight", np.ones((1, 1))), np.ones((1, 1))])


def test_one_group_only_as_torch():
    a, b = np.ones(2), np.ones(2)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        torch.optim.LBFGS([{"params": [torch.ones(2, requires_grad=True)]},
                           {"params": [torch.ones(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        fastgd.LBFGS([{"params": [a]}, {"params": [b]}])


def _torch_optim_db_entry():
    """torch's OptimizerInfo of LBFGS (its test module needs ``expecttest``)."""
    try:
        from torch.testing._internal.common_optimizers import optim_db
    except ImportError as exc:  # expecttest missing
        pytest.skip(f"torch's optim_db cannot be imported: {exc}")
    return next(info for info in optim_db if info.optim_cls is torch.optim.LBFGS)


def _numpy_meaning(kwargs):
    return {k: (np.array(float(v)) if torch.is_tensor(v) else v) for k, v in kwargs.items()}


def test_every_torch_optim_input_is_an_option_set_here():
    info = _torch_optim_db_entry()
    ours = [{k: (float(v) if isinstance(v, np.ndarray) else v) for k, v in o.items()}
            for o in OPTIM_DB["LBFGS"]]
    for optim_input in info.optim_inputs_func("cpu"):
        meaning = {k: (round(float(v), 6) if isinstance(v, np.ndarray) else v)
                   for k, v in _numpy_meaning(optim_input.kwargs).items()}
        assert meaning in ours, (optim_input.desc, meaning)


#: torch's error inputs (get_error_inputs_for_all_optims) -> what the NumPy meaning raises
#: here; None: no NumPy meaning (fastgd's parameters have no names).
ERROR_INPUTS = {
    "invalid param type": (lambda p, q: fastgd.LBFGS(p), TypeError),
    "a param group cannot have duplicate parameters":  # torch warns; see the test above
        (lambda p, q: fastgd.LBFGS([p, p]), ValueError),
    "duplicate parameters should not occur across param groups either":
        (lambda p, q: fastgd.LBFGS([{"params": p}, {"params": p}]), ValueError),
    "Tensor lr must be 1-element":
        (lambda p, q: fastgd.LBFGS([p], lr=np.array([0.001, 0.001])), ValueError),
    "all optimizer params should be with/without names": None,
    "all optimizer param groups should be with/without names.": None,
}


def test_every_torch_error_input_raises_the_same_class_here():
    info = _torch_optim_db_entry()
    for error_input in info.optim_error_inputs_func("cpu", torch.float64):
        desc = error_input.optimizer_error_input.desc
        assert desc in ERROR_INPUTS, f"a new error input in torch's optim_db: {desc!r}"
        if ERROR_INPUTS[desc] is None:
            continue
        make, error = ERROR_INPUTS[desc]
        with pytest.raises(error):
            make(np.ones((1, 1)), np.ones((1, 1)))
        if error_input.error_type is not UserWarning:  # torch's own class, the same
            assert error is error_input.error_type, desc
