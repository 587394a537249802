"""fastgd.torch as a torch.optim.Optimizer: state dicts to and from torch.optim, pickles and
copies, step(closure), zero_grad, add_param_group, hooks, and the errors for what it
cannot step (raised before anything is modified)."""

from __future__ import annotations

import copy
import io
import pickle

import numpy as np
import pytest
from _torch import (
    OPTIONS,
    TABLE_NAMES,
    TORCH_NAMES,
    flat,
    ft,
    mlp,
    one_thread,  # noqa: F401  (an autouse fixture)
    pair,
    rel,
    torch,
    torch_class,
    train,
)


def _options(name):
    return OPTIONS.get(name, [{}])[-1]


def _same_state_layout(ours, theirs):
    assert ours["state"].keys() == theirs["state"].keys()
    for i, entries in theirs["state"].items():
        assert ours["state"][i].keys() == entries.keys(), i
        for key, value in entries.items():
            mine = ours["state"][i][key]
            # arrays as tensors; real numbers but step (ASGD's eta, ...) as floats, which
            # torch's optimizers take (and its load_state_dict keeps at full precision)
            assert isinstance(mine, torch.Tensor if key == "step" or value.ndim
                              else float), key
            assert np.shape(mine) == value.shape, key
            if key == "step":
                assert mine.dtype == value.dtype
    for g_ours, g_theirs in zip(ours["param_groups"], theirs["param_groups"]):
        assert g_ours["params"] == g_theirs["params"]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_state_dict_of_torch_loads_and_training_goes_on_equal(name):
    options = _options(name)
    a, opt_a, b, opt_b = pair(name, options, torch.float64)
    train(a, opt_a, 5)
    train(b, opt_b, 5)
    _same_state_layout(opt_b.state_dict(), opt_a.state_dict())
    # torch's state dict, through a file, into a fresh fastgd.torch optimizer
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)
    buffer.seek(0)
    c = copy.deepcopy(a)
    opt_c = getattr(ft, name)(c.parameters(), **options)
    opt_c.load_state_dict(torch.load(buffer))
    assert opt_c.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]
    train(a, opt_a, 20, first=5)
    train(c, opt_c, 20, first=5)
    assert rel(flat(a), flat(c)) <= 1e-12


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_state_dict_loads_into_torch_and_training_goes_on_equal(name):
    options = _options(name)
    b = mlp(torch.float64)
    opt_b = getattr(ft, name)(b.parameters(), **options)
    train(b, opt_b, 5)
    a = copy.deepcopy(b)
    opt_a = torch_class(name)(a.parameters(), **options)
    # a copy, as a checkpoint file gives: torch's load keeps tensors of the right dtype
    # as they are, and the two optimizers would then share their state
    opt_a.load_state_dict(copy.deepcopy(opt_b.state_dict()))
    train(a, opt_a, 20, first=5)
    train(b, opt_b, 20, first=5)
    assert rel(flat(a), flat(b)) <= 1e-12


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_state_dict_round_trip_and_pickle_resume_bit_for_bit(name):
    options = _options(name)
    model = mlp(torch.float32)
    opt = getattr(ft, name)(model.parameters(), **options)
    train(model, opt, 3)
    twin = copy.deepcopy(model)
    opt_twin = getattr(ft, name)(twin.parameters(), **options)
    opt_twin.load_state_dict(opt.state_dict())
    clone = copy.deepcopy({"model": model, "opt": opt})
    restored = pickle.loads(pickle.dumps({"model": model, "opt": opt}))
    runs = [(model, opt), (twin, opt_twin), (clone["model"], clone["opt"]),
            (restored["model"], restored["opt"])]
    for m, o in runs:
        train(m, o, 3, first=3)
    for m, _ in runs[1:]:
        np.testing.assert_array_equal(flat(m), flat(model))


def test_state_shares_memory_with_the_steps():
    model = mlp(torch.float64)
    opt = ft.Adam(model.parameters())
    train(model, opt, 1)
    p = next(model.parameters())
    exp_avg = opt.state[p]["exp_avg"]
    saved = opt.state_dict()["state"][0]["exp_avg"]
    before = exp_avg.clone()
    train(model, opt, 1, first=1)
    assert not torch.equal(exp_avg, before)  # the step wrote into it
    assert torch.equal(saved, exp_avg)  # state_dict holds the state, as torch's does
    assert opt.state[p]["step"].item() == 2 and opt.state[p]["step"].dtype == torch.float32


def test_step_closure_zero_grad_and_none_grads():
    model = mlp(torch.float64)
    twin = copy.deepcopy(model)
    opt = ft.SGD(model.parameters(), lr=0.1)
    ref = torch.optim.SGD(twin.parameters(), lr=0.1)
    from _torch import batch

    X, y = batch(0, torch.float64)

    def closure(m, o):
        def run():
            assert torch.is_grad_enabled()
            o.zero_grad()
            loss = torch.nn.functional.cross_entropy(m(X), y)
            loss.backward()
            return loss
        return run

    with torch.no_grad():
        loss = opt.step(closure(model, opt))
        loss_ref = ref.step(closure(twin, ref))
    assert float(loss.detach()) == float(loss_ref.detach())
    np.testing.assert_allclose(flat(model), flat(twin), rtol=1e-14, atol=1e-17)
    # None gradients: that parameter (and its state) is left alone
    last = list(model.parameters())[-1]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    loss = torch.nn.functional.cross_entropy(model(X), y)
    loss.backward()
    last.grad = None
    before = last.detach().clone()
    opt.step()
    assert torch.equal(last, before)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    opt.step()  # no gradients at all: nothing to do


def test_add_param_group_and_named_parameters():
    model = mlp(torch.float64)
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    opt = ft.Adam(layers[0].parameters(), lr=1e-2)
    ref = torch.optim.Adam(copy.deepcopy(layers[0]).parameters(), lr=1e-2)
    twin = copy.deepcopy(model)
    twin_layers = [m for m in twin if isinstance(m, torch.nn.Linear)]
    ref = torch.optim.Adam(twin_layers[0].parameters(), lr=1e-2)
    train(model, opt, 2)
    train(twin, ref, 2)
    for o, ls in ((opt, layers), (ref, twin_layers)):
        o.add_param_group({"params": list(ls[1].parameters()) + list(ls[2].parameters()),
                           "lr": 1e-3, "betas": (0.8, 0.99)})
    assert opt.param_groups[1]["eps"] == 1e-8 and opt.param_groups[1]["betas"] == (0.8, 0.99)
    train(model, opt, 5, first=2)
    train(twin, ref, 5, first=2)
    assert rel(flat(model), flat(twin)) <= 1e-13
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))],
                             "betas": (1.5, 0.9)})
    assert len(opt.param_groups) == 2  # refused: not added
    with pytest.raises(ValueError, match="more than one parameter group|share memory"):
        opt.add_param_group({"params": [layers[0].weight]})
    assert len(opt.param_groups) == 2
    named = ft.AdamW(model.named_parameters())
    assert named.state_dict()["param_groups"][0]["param_names"][0] == "0.weight"


def test_hooks_run_as_torch_runs_them():
    model = mlp(torch.float64)
    opt = ft.Adam(model.parameters())
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o)))
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(
        lambda o, args, kwargs: calls.append(("global", o)))
    try:
        train(model, opt, 1)
    finally:
        handle.remove()
    assert calls == [("global", opt), ("pre", opt), ("post", opt)]

    def add_key(o, sd):
        sd["extra"] = 1
    opt.register_state_dict_post_hook(add_key)
    sd = opt.state_dict()
    assert sd["extra"] == 1
    loaded = []
    opt.register_load_state_dict_pre_hook(lambda o, d: loaded.append("pre"))
    opt.register_load_state_dict_post_hook(lambda o: loaded.append("post"))
    opt.load_state_dict(sd)
    assert loaded == ["pre", "post"]



def test_hooks_replace_arguments_and_run_once_in_a_subclass():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    p.grad = torch.ones(3, dtype=torch.float64)
    opt = ft.SGD([p], lr=0.5)
    losses = []

    def closure():
        losses.append(1.0)
        return torch.tensor(1.0)
    # a pre-hook's (args, kwargs) replace the step's (args[0]: the optimizer)
    opt.register_step_pre_hook(lambda o, args, kwargs: ((o,), {"closure": closure}))
    assert opt.step().item() == 1.0 and losses == [1.0]
    torch.testing.assert_close(p.detach(), torch.full((3,), 0.5, dtype=torch.float64))
    opt.register_step_pre_hook(lambda o, args, kwargs: 3)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()

    class Counting(ft.SGD):  # torch's wrapper runs the hooks of its own step
        def step(self, closure=None):
            return super().step(closure)
    q = torch.nn.Parameter(torch.ones(2))
    q.grad = torch.ones(2)
    sub = Counting([q], lr=1.0)
    calls = []
    sub.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    sub.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    sub.step()
    assert calls == ["pre", "post"]
    torch.testing.assert_close(q.detach(), torch.zeros(2))


def test_the_profiler_records_the_step():
    model = mlp(torch.float32)
    opt = ft.Adam(model.parameters())
    model(torch.ones(2, 64)).sum().backward()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        opt.step()
    assert "Optimizer.step#Adam.step" in {event.name for event in prof.events()}

def _param(*shape, **options):
    return torch.nn.Parameter(torch.zeros(*shape, **options))


@pytest.mark.parametrize("make, error, match", [
    (lambda: [_param(3, device="meta")], ValueError, "parameter 0 is on device meta"),
    (lambda: [_param(2), _param(3, dtype=torch.float16)], TypeError,
     "parameter 1 has dtype torch.float16"),
    (lambda: [_param(3, 2).t()], ValueError, "can't optimize a non-leaf|not contiguous"),
    (lambda: [torch.nn.Parameter(torch.zeros(4, 3)[:, :2])], ValueError,
     "parameter 0 .*is not contiguous"),
    (lambda: [torch.nn.Parameter(torch.zeros(3).to_sparse())], ValueError,
     "parameter 0 is a torch.sparse_coo tensor"),
    (lambda: [(_param(2) * 2)], ValueError, "can't optimize a non-leaf Tensor"),
    (lambda: _param(2), TypeError, "iterable of Tensors"),
    (lambda: [], ValueError, "empty parameter list"),
])
def test_parameters_it_cannot_step_are_refused_naming_them(make, error, match):
    with pytest.raises(error, match=match):
        ft.Adam(make())


def test_hyperparameters_are_refused_as_fastgd_refuses_them():
    p = _param(2)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        ft.Adam([p], lr=-1)
    with pytest.raises(TypeError, match="lr must be a real number"):
        ft.SGD([p], lr="0.1")
    with pytest.raises(ValueError, match="Invalid learning rate: nan"):
        ft.SGD([p], lr=float("nan"))
    with pytest.raises(TypeError, match="unexpected keyword argument 'fused'"):
        ft.Adam([p], fused=True)


@pytest.mark.parametrize("grad, error, match", [
    (lambda p: torch.ones(3).to_sparse(), ValueError,
     "gradient of parameter 1 is a torch.sparse_coo tensor"),
    (lambda p: torch.ones(3, requires_grad=True) * 1.0, ValueError,
     "gradient of parameter 1 requires grad"),
])
def test_gradients_it_cannot_step_are_refused_before_anything_changes(grad, error, match):
    a, b = _param(2), _param(3)
    opt = ft.Adam([a, b])
    a.grad, b.grad = torch.ones(2), torch.ones(3)
    opt.step()
    state = copy.deepcopy(opt.state_dict())
    before = (a.detach().clone(), b.detach().clone())
    b.grad = grad(b)
    with pytest.raises(error, match=match):
        opt.step()
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])
    after = opt.state_dict()
    for i in (0, 1):
        for key, value in state["state"][i].items():
            assert torch.equal(after["state"][i][key], value)


def test_non_contiguous_gradient_is_copied_first():
    w = _param(3, 2, dtype=torch.float64)
    twin = _param(3, 2, dtype=torch.float64)
    opt, ref = ft.Adam([w]), torch.optim.Adam([twin])
    g = torch.arange(6.0, dtype=torch.float64).reshape(2, 3).t()
    w.grad, twin.grad = g, g.contiguous()
    opt.step()
    ref.step()
    torch.testing.assert_close(w, twin, rtol=1e-15, atol=0)


def test_replaced_parameter_storage_is_viewed_again():
    model = mlp(torch.float64)
    twin = copy.deepcopy(model)
    opt = ft.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, 2)
    train(twin, ref, 2)
    for m in (model, twin):
        for p in m.parameters():
            p.data = p.data.clone()  # new storage, same values
    train(model, opt, 2, first=2)
    train(twin, ref, 2, first=2)
    assert rel(flat(model), flat(twin)) <= 1e-14
    model.float()  # another dtype: an error, nothing stepped
    with pytest.raises(ValueError, match="parameter 0 was replaced by a tensor of dtype "
                                         "torch.float32"):
        train(model, opt, 1, first=4)


def test_gradient_tensors_kept_between_steps_are_read_afresh():
    # the view of a gradient tensor seen at the last step is reused: it shares memory,
    # so in-place changes are seen, and a tensor given other memory is viewed again
    w = _param(3, dtype=torch.float64)
    twin = _param(3, dtype=torch.float64)
    opt, ref = ft.SGD([w], lr=0.1, momentum=0.9), torch.optim.SGD([twin], lr=0.1, momentum=0.9)
    g = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    w.grad, twin.grad = g, g.clone()
    for change in (lambda t: t.mul_(2), lambda t: t.set_(torch.tensor([-1.0, 0.5, 2.0],
                                                                       dtype=torch.float64)),
                   lambda t: None):
        opt.step()
        ref.step()
        change(w.grad)
        change(twin.grad)
    torch.testing.assert_close(w, twin, rtol=1e-15, atol=0)
    opt.zero_grad()
    assert w.grad is None and all(v is None for v in opt._grad_views)


def test_parameter_without_requires_grad_but_with_a_grad_is_stepped_as_torch():
    w = torch.zeros(3, dtype=torch.float64)  # a leaf that does not require grad
    twin = w.clone()
    opt, ref = ft.SGD([w], lr=0.5), torch.optim.SGD([twin], lr=0.5)
    w.grad = twin.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    ref.step()
    assert torch.equal(w, twin) and w[0].item() == -0.5


def test_a_refused_state_dict_changes_nothing():
    model = mlp(torch.float64)
    opt = ft.Adam(model.parameters(), lr=1e-2)
    train(model, opt, 2)
    before = copy.deepcopy(opt.state_dict())
    other = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    train(model, other, 1, first=2)
    with pytest.raises(ValueError, match="not a state dict of Adam"):
        opt.load_state_dict(other.state_dict())
    bad = copy.deepcopy(before)
    bad["state"][1]["exp_avg"] = torch.zeros(7, dtype=torch.float64)
    with pytest.raises(ValueError, match="state of parameter 1: exp_avg has shape"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i, entries in before["state"].items():
        for key, value in entries.items():
            assert torch.equal(after["state"][i][key], value)
