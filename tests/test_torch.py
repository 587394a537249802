"""fastgd.torch in a torch training loop: the digits MLP and a 200-tensor model trained with
torch.optim and fastgd.torch side by side, for every optimizer of the registry that torch
has; every optimizer of the registry equal, bit for bit, to fastgd's own class on the same
gradients; torch's schedulers driving it. (State dicts, hooks, groups and errors:
test_torch_state.py.)"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _torch import (
    CASES,
    NAMES,
    TORCH_CASES,
    batch,
    fastgd,
    flat,
    ft,
    mlp,
    one_thread,  # noqa: F401  (an autouse fixture)
    pair,
    rel,
    torch,
    torch_class,
    train,
    wide,
    wide_loss,
)

STEPS = 300
FLOAT32_STEPS = 60



def test_every_registry_optimizer_has_a_torch_class():
    """All but the low-bit ones, which are named in NOT_ADAPTED and absent."""
    assert set(ft.__all__) == {"TorchOptimizer", "ClosureOptimizer", "SparseGradOptimizer",
                               *NAMES}
    assert set(ft.NOT_ADAPTED) == {"Adam8bit", "AdamW8bit", "AdamW4bit", "Lion8bit"}
    for name in ft.NOT_ADAPTED:
        assert not hasattr(ft, name)
    for name in NAMES:
        cls = getattr(ft, name)
        assert issubclass(cls, torch.optim.Optimizer) and cls.__name__ == name
        assert cls.fastgd_class is getattr(fastgd, name)
        # a matrix, which every optimizer steps (Muon nothing else)
        ours = getattr(fastgd, name)([np.zeros((2, 3))])
        theirs = cls([torch.nn.Parameter(torch.zeros(2, 3))])
        assert {k: v for k, v in theirs.defaults.items()} == ours.defaults
        assert theirs.param_groups[0].keys() - {"params"} == ours.param_groups[0].keys() - {
            "params"}


@pytest.mark.parametrize("name, options", TORCH_CASES)
def test_digits_mlp_float64_equals_torch(name, options):
    a, opt_a, b, opt_b = pair(name, options, torch.float64)
    losses_a = train(a, opt_a, STEPS)
    losses_b = train(b, opt_b, STEPS)
    assert rel(flat(a), flat(b)) <= 1e-12
    assert losses_b[-1] == pytest.approx(losses_a[-1], rel=1e-10)
    assert losses_a[-1] < losses_a[0]  # it trains
    assert not np.array_equal(flat(b), flat(mlp(torch.float64)))


@pytest.mark.parametrize("name, options", TORCH_CASES)
def test_digits_mlp_float32_close_to_torch(name, options):
    # fastgd's default kernels do not use fused multiply-add and torch's CPU kernels do:
    # a few elements part by an ulp per step, which training amplifies a little (measured
    # after 60 steps: 1e-7 to 1e-6 relative)
    a, opt_a, b, opt_b = pair(name, options, torch.float32)
    train(a, opt_a, 1)
    train(b, opt_b, 1)
    assert rel(flat(a), flat(b)) <= 1e-6
    train(a, opt_a, FLOAT32_STEPS - 1, first=1)
    train(b, opt_b, FLOAT32_STEPS - 1, first=1)
    # After 60 steps, within 1e-5 of torch's float32 run or of torch's float64 one: a
    # ReLU whose input is within an ulp of 0 can switch in one float32 run and not in the
    # other, which parts the runs by ~1e-3 from that step on (seen on an AMD EPYC, SGD with
    # Nesterov: torch's float32 run left both the float64 run and fastgd's at step 20,
    # fastgd's staying within 2e-7 of the float64 one). A wrong step leaves both.
    c = mlp(torch.float64)
    train(c, torch_class(name)(c.parameters(), **options), FLOAT32_STEPS)
    to_torch32 = rel(flat(a), flat(b))
    to_torch64 = rel(flat(c), flat(a).astype(np.float64))
    assert min(to_torch32, to_torch64) <= 1e-5, (to_torch32, to_torch64)


@pytest.mark.parametrize("name, options", CASES)
def test_every_optimizer_equals_fastgd_on_the_same_gradients(name, options):
    # fastgd.torch.X over tensors and fastgd.X over their arrays: the same bits
    dtype = torch.float64 if name in ("LAMB", "LARS") else torch.float32
    model = mlp(dtype)
    twin = copy.deepcopy(model)
    opt = getattr(ft, name)(model.parameters(), **options)
    arrays = [p.detach().numpy() for p in twin.parameters()]
    ref = getattr(fastgd, name)(arrays, **options)
    for s in range(8):
        train(model, opt, 1, first=s)
        X, y = batch(s, dtype)
        for p in twin.parameters():
            p.grad = None
        torch.nn.functional.cross_entropy(twin(X), y).backward()
        ref.step([p.grad.numpy() for p in twin.parameters()])
        np.testing.assert_array_equal(flat(model), flat(twin))
    sd, ref_sd = opt.state_dict(), ref.state_dict()
    assert sd["state"].keys() == ref_sd["state"].keys()
    for i, entries in ref_sd["state"].items():
        assert sd["state"][i].keys() == entries.keys()
        for key, value in entries.items():
            np.testing.assert_array_equal(np.asarray(sd["state"][i][key]), value)


def test_float32_one_step_differs_by_ulps_only():
    a, opt_a, b, opt_b = pair("Adam", {}, torch.float32)
    train(a, opt_a, 1)
    train(b, opt_b, 1)
    wa, wb = flat(a), flat(b)
    # the update (lr = 1e-3 in size) rounded differently, and the result
    scale = np.maximum(np.maximum(np.abs(wa), np.abs(wb)), np.float32(1e-3))
    assert np.all(np.abs(wa - wb) <= 2 * np.spacing(scale))
    assert np.mean(wa != wb) < 0.2


@pytest.mark.parametrize("name, options", [
    ("Adam", {}), ("AdamW", {"weight_decay": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("RMSprop", {"lr": 1e-3, "centered": True}), ("Adagrad", {"lr": 0.05})])
def test_200_tensor_model_equals_torch(name, options):
    a, opt_a, b, opt_b = pair(name, options, torch.float64, model=wide)
    for s in range(30):
        for params, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            wide_loss(params, s).backward()
            opt.step()
    assert len(opt_b.state) == 200
    assert rel(flat(a), flat(b)) <= 1e-12
    assert rel(flat(a), flat(wide(torch.float64))) > 1e-4


def _schedulers():
    S = torch.optim.lr_scheduler
    return [
        pytest.param("Adam", lambda o: S.StepLR(o, step_size=25, gamma=0.5), id="StepLR"),
        pytest.param("Adam", lambda o: S.OneCycleLR(o, max_lr=1e-2, total_steps=100),
                     id="OneCycleLR-betas"),
        pytest.param("SGD", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100),
                     id="OneCycleLR-momentum"),
        pytest.param("SGD", lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5),
                     id="ReduceLROnPlateau"),
        pytest.param("AdamW", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=15),
                     id="CosineAnnealingWarmRestarts"),
        pytest.param("RMSprop", lambda o: S.SequentialLR(o, [
            S.LinearLR(o, start_factor=0.1, total_iters=20),
            S.ExponentialLR(o, gamma=0.99)], milestones=[20]), id="SequentialLR"),
        pytest.param("Adagrad", lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e)),
                     id="LambdaLR"),
        pytest.param("Adam", lambda o: S.CyclicLR(o, 1e-4, 1e-2, step_size_up=12),
                     id="CyclicLR-betas"),
    ]


@pytest.mark.parametrize("name, make", _schedulers())
def test_schedulers_drive_it_as_torch(name, make):
    options = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 1e-3}
    a, opt_a, b, opt_b = pair(name, options, torch.float64)
    sched_a, sched_b = make(opt_a), make(opt_b)
    lrs_a, lrs_b = [], []
    for s in range(0, 100, 5):
        train(a, opt_a, 5, sched_a, first=s)
        train(b, opt_b, 5, sched_b, first=s)
        lrs_a.append((opt_a.param_groups[0]["lr"], opt_a.param_groups[0].get("betas")))
        lrs_b.append((opt_b.param_groups[0]["lr"], opt_b.param_groups[0].get("betas")))
    assert lrs_a == lrs_b
    assert len(set(lrs_a)) > 1  # the schedule changed something
    assert rel(flat(a), flat(b)) <= 1e-12


def test_hyperparameters_changed_by_hand_apply_at_the_next_step():
    a, opt_a, b, opt_b = pair("SGD", {"lr": 0.1, "momentum": 0.9}, torch.float64)
    train(a, opt_a, 3)
    train(b, opt_b, 3)
    for opt in (opt_a, opt_b):
        opt.param_groups[0]["lr"] = 0.01
        opt.param_groups[0]["momentum"] = 0.5
    train(a, opt_a, 3, first=3)
    train(b, opt_b, 3, first=3)
    assert rel(flat(a), flat(b)) <= 1e-14


def test_an_invalid_hyperparameter_set_between_steps_changes_nothing():
    model = mlp(torch.float64)
    opt = ft.Adam(model.parameters())
    train(model, opt, 2)
    opt.param_groups[0]["lr"] = -1.0
    before = flat(model)
    state = {k: v.clone() for k, v in opt.state[next(model.parameters())].items()}
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        train(model, opt, 1, first=2)
    np.testing.assert_array_equal(flat(model), before)
    for k, v in opt.state[next(model.parameters())].items():
        assert torch.equal(v, state[k])
    opt.param_groups[0]["lr"] = 1e-3
    train(model, opt, 1, first=2)
    assert not np.array_equal(flat(model), before)


@pytest.mark.parametrize("name", ["AdamWScheduleFree", "SGDScheduleFree"])
def test_schedule_free_train_and_eval_switch_the_tensors(name):
    model = mlp(torch.float64)
    twin = copy.deepcopy(model)
    opt = getattr(ft, name)(model.parameters())
    ref = getattr(fastgd, name)([p.detach().numpy() for p in twin.parameters()])
    for s in range(5):
        train(model, opt, 1, first=s)
        X, y = batch(s, torch.float64)
        for p in twin.parameters():
            p.grad = None
        torch.nn.functional.cross_entropy(twin(X), y).backward()
        ref.step([p.grad.numpy() for p in twin.parameters()])
    opt.eval()
    ref.eval()
    assert opt.param_groups[0]["train_mode"] is False
    np.testing.assert_array_equal(flat(model), flat(twin))
    opt.train()
    ref.train()
    assert opt.param_groups[0]["train_mode"] is True
    np.testing.assert_array_equal(flat(model), flat(twin))


def test_asgd_averaged_and_sophia_update_hessian_take_and_give_tensors():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = ft.ASGD([p], t0=0)
    for _ in range(3):
        p.grad = 2 * p.detach()
        opt.step()
    (avg,) = opt.averaged()
    assert isinstance(avg, torch.Tensor)
    torch.testing.assert_close(avg, opt.state[p]["ax"], rtol=0, atol=0)
    q = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    sophia = ft.Sophia([q])
    q.grad = torch.tensor([0.5, 0.25])
    sophia.update_hessian([q.grad * q.grad])
    ref = fastgd.Sophia([np.array([1.0, -2.0], np.float32)])
    ref.update_hessian([np.array([0.25, 0.0625], np.float32)])
    np.testing.assert_array_equal(sophia.state[q]["hessian"].numpy(),
                                  ref.state[0]["hessian"])


def test_grad_scaler_drives_it_as_torch():
    a, opt_a, b, opt_b = pair("Adam", {"lr": 1e-3}, torch.float32)
    for model, opt in ((a, opt_a), (b, opt_b)):
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
        for s in range(5):
            X, y = batch(s, torch.float32)
            opt.zero_grad()
            scaler.scale(torch.nn.functional.cross_entropy(model(X), y)).backward()
            if s == 2:  # an infinite gradient: the scaler skips this step
                next(model.parameters()).grad[0, 0] = float("inf")
            scaler.step(opt)
            scaler.update()
        assert scaler.get_scale() == 2.0 ** 7
    assert rel(flat(a), flat(b)) <= 1e-5
    assert opt_b.state[next(b.parameters())]["step"].item() == 4  # one step skipped


def test_import_fastgd_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, fastgd; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/")  # not the checkout: its fastgd/ is uncompiled
    assert out.stdout.strip() == "False"
