"""fit(checkpoint=, resume=) (fastgd/io/fit_resume.py): a fit resumed from its checkpoint
ends with the same bits as one that ran without a break (model, history, optimizer,
schedulers, generator), whatever stopped it; the arguments are checked before the model
changes."""

from __future__ import annotations

import fractions
import os
import pathlib
import warnings

import numpy as np
import pytest
from _problems import BACKENDS, DTYPES, same

import fastgd
from fastgd import lr_scheduler

# ---------------------------------------------------------------- fit: checkpoint and resume


def regression(n=203, d=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ np.linspace(-1, 2, d) + 0.3 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def classes(n=180, d=3, k=3, seed=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = 2 * rng.standard_normal((k, d))[y] + rng.standard_normal((n, d))
    return X.astype(dtype), y


def _history(h):
    d = h.as_dict()
    d.pop("time")
    out = dict(rows=d, converged=h.converged, stop_reason=h.stop_reason, n_steps=h.n_steps)
    if h.steps is not None:
        out["steps"] = h.steps.as_dict()
    return out


def _fit(make_model, X, y, epochs, **kw):
    model = make_model()
    kw = dict(kw)
    if isinstance(kw.get("random_state"), tuple):  # a fresh Generator per run
        kw["random_state"] = np.random.default_rng(kw["random_state"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastgd.ConvergenceWarning)
        history = fastgd.fit(model, X, y, epochs=epochs, **kw)
    return model, history, kw.get("random_state")


def _final_state(path):
    """Everything a fit's last checkpoint holds, but the times."""
    ckpt = fastgd.load(path)
    state = dict(ckpt.extra["fit"])
    state["history"] = {k: v for k, v in state["history"].items() if k != "time"}
    return dict(params=ckpt.params, optimizer=ckpt.optimizer_state, fit=state)


def _check_resume(tmp_path, make_model, X, y, epochs, splits, **kw):
    """fit for ``epochs`` in one go, and in pieces ending at each of ``splits`` then
    resumed to ``epochs``: the same bits, in the model, the history and the state of the
    run at its end (optimizer, schedulers, generator, counters: the last checkpoint)."""
    ref_path = tmp_path / "reference.ckpt"
    ref, href, gref = _fit(make_model, X, y, epochs, checkpoint=ref_path, **kw)
    path = tmp_path / "fit.ckpt"
    model, h, g = _fit(make_model, X, y, splits[0], checkpoint=path, **kw)
    for k in list(splits[1:]) + [epochs]:
        model, h, g = _fit(make_model, X, y, k, checkpoint=path, resume=path, **kw)
    same(model.coef_, ref.coef_, "coef_")
    same(model.intercept_, ref.intercept_, "intercept_")
    same(_history(h), _history(href))
    same(_final_state(path), _final_state(ref_path))
    if isinstance(gref, np.random.Generator):
        same(g.bit_generator.state, gref.bit_generator.state)
    return ref, href


FIT_CASES = {
    "sgd-fused": dict(optimizer="sgd", lr=0.02, batch_size=16,
                      optimizer_kwargs=dict(momentum=0.9, nesterov=True),
                      schedule=lambda o: lr_scheduler.MultiStepLR(o, [2, 5, 5], 0.5)),
    "adam-fused-early": dict(optimizer="adam", lr=0.02, batch_size=20, early_stopping=True,
                             tol=1e-12, schedule=lambda o: lr_scheduler.StepLR(o, 2, 0.5)),
    "adamw-plateau": dict(optimizer="adamw", lr=0.05, batch_size=32,
                          schedule=lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0)),
    "sophia-hessian-at-epoch-end": dict(optimizer="sophia", lr=0.02, batch_size=40,
                                        optimizer_kwargs=dict(update_interval=5)),
    "schedule-free": dict(optimizer="adamwschedulefree", lr=0.05, batch_size=25,
                          optimizer_kwargs=dict(warmup_steps=5)),
    "asgd-invscaling": dict(optimizer="asgd", lr=0.05, batch_size=16,
                            schedule="invscaling", optimizer_kwargs=dict(t0=20.0)),
    "nadam-clip-record": dict(optimizer="nadam", lr=0.05, batch_size=16, clip_norm=1.0,
                              clip_value=0.5, record_steps=True),
    "rprop-full-batch-gtol": dict(optimizer="rprop", lr=0.01, batch_size=None, gtol=1e-12),
    "adam-onecycle-weights-generator": dict(optimizer="adam", lr=0.1, batch_size=30,
                                      random_state=(4,), shuffle=True,
                                      schedule=lambda o: lr_scheduler.OneCycleLR(
                                          o, max_lr=0.3, total_steps=9)),
    "sgd-optimal-no-shuffle": dict(optimizer="sgd", lr=0.01, batch_size=50, shuffle=False,
                                   schedule="optimal"),
    "lbfgs-full-batch": dict(optimizer="lbfgs", lr=1.0, batch_size=None,
                             optimizer_kwargs={"history_size": 3, "max_iter": 2}),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit_resumed_equals_uninterrupted(tmp_path, case, dtype):
    kw = dict(random_state=7, **FIT_CASES[case]) if "random_state" not in FIT_CASES[case] \
        else dict(FIT_CASES[case])
    X, y = regression(dtype=dtype)
    penalty = {}
    if case == "sgd-optimal-no-shuffle":
        penalty = dict(loss="huber", penalty="l2", alpha=1e-2)
    if case == "adam-onecycle-weights-generator":
        kw["sample_weight"] = np.random.default_rng(3).uniform(0, 2, X.shape[0])
    if case == "sophia-hessian-at-epoch-end":
        # 203 rows, batches of 40: 6 steps an epoch, so every epoch ends with a refresh due
        # 180 rows, batches of 40: 5 steps an epoch, a refresh due at every epoch's end
        X, y = classes(dtype=dtype)
        _check_resume(tmp_path, lambda: fastgd.SoftmaxRegression(), X, y, 5, (2, 3), **kw)
        assert fastgd.load(tmp_path / "fit.ckpt").extra["fit"]["hess_next"] is True
        return
    _check_resume(tmp_path, lambda: fastgd.LinearRegression(**penalty), X, y, 9, (3, 4, 8),
                  **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_resumed_on_every_backend(tmp_path, backend):
    X, y = classes()
    with fastgd.use_backend(backend):
        for optimizer, kwargs in [("adam", {}), ("sgd", dict(momentum=0.5)),
                                  ("adafactor", {})]:
            _check_resume(tmp_path, lambda: fastgd.SoftmaxRegression(penalty="l2",
                                                                      alpha=1e-3),
                          X, y, 6, (2,), optimizer=optimizer, lr=0.05, batch_size=16,
                          random_state=1, early_stopping=True, optimizer_kwargs=kwargs)


def test_fit_checkpoint_holds_the_run_after_each_epoch(tmp_path):
    X, y = regression()
    path = tmp_path / "fit.ckpt"
    seen = []

    def cb(epoch, history, model):
        if path.exists():
            seen.append(fastgd.load(path).extra["fit"]["epoch"])
        return False

    model = fastgd.LinearRegression()
    h = model.fit(X, y, optimizer="adam", lr=0.05, epochs=4, random_state=0,
                  checkpoint=str(path), callbacks=[cb]).history_
    assert seen == [1, 2, 3]  # each epoch's file is written after its callbacks
    ckpt = fastgd.load(path)
    state = ckpt.extra["fit"]
    assert state["epoch"] == 4 and state["n_steps"] == h.n_steps
    assert ckpt.optimizer_class == "Adam"
    same(ckpt.params, [model.coef_, model.intercept_])
    assert os.listdir(tmp_path) == ["fit.ckpt"]


def test_fit_resume_after_a_callback_stop_goes_on(tmp_path):
    X, y = regression()
    kw = dict(optimizer="sgd", lr=0.01, random_state=2, tol=1e-9)
    ref, href, _ = _fit(fastgd.LinearRegression, X, y, 8, **kw)
    path = tmp_path / "c"
    stopper = lambda epoch, history, model: epoch == 2  # noqa: E731
    model, h, _ = _fit(fastgd.LinearRegression, X, y, 8, checkpoint=path,
                       callbacks=[stopper], **kw)
    assert len(h) == 3 and h.stop_reason == "callback"
    model, h, _ = _fit(fastgd.LinearRegression, X, y, 8, resume=path, **kw)
    same(model.coef_, ref.coef_)
    same(_history(h), _history(href))


def test_fit_resume_of_a_converged_run_runs_nothing_more(tmp_path):
    X, y = regression()
    kw = dict(optimizer="sgd", lr=0.05, random_state=2, tol=1e-2, n_iter_no_change=2)
    path = tmp_path / "c"
    model, h, _ = _fit(fastgd.LinearRegression, X, y, 50, checkpoint=path, **kw)
    assert h.converged and h.stop_reason == "tol" and len(h) < 50
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model2 = fastgd.LinearRegression()
        h2 = fastgd.fit(model2, X, y, epochs=80, resume=path,
                        callbacks=[lambda *a: calls.append(a)], **kw)
    assert calls == []
    same(model2.coef_, model.coef_)
    same(_history(h2), _history(h))


def test_fit_resume_reaches_the_same_divergence(tmp_path):
    """Full batches: the divergence comes at the first batch of an epoch, right after a
    checkpoint, and the model is left at the saved copy of the parameters before the
    step that led there (from the previous epoch)."""
    X, y = regression()
    X = X * 1e10  # the loss overflows after 9 epochs
    kw = dict(optimizer="sgd", lr=0.01, batch_size=None, random_state=0)
    ref = fastgd.LinearRegression()
    with pytest.raises(FloatingPointError) as info:
        fastgd.fit(ref, X, y, epochs=50, **kw)
    epoch = int(info.value.args[0].split("epoch ")[1].split(",")[0])
    assert epoch == 9
    path = tmp_path / "c"
    model = fastgd.LinearRegression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fastgd.fit(model, X, y, epochs=epoch, checkpoint=path, **kw)
    with pytest.raises(FloatingPointError) as info2:
        fastgd.fit(model, X, y, epochs=50, resume=path, **kw)
    assert str(info2.value) == str(info.value)
    same(model.coef_, ref.coef_)
    same(model.intercept_, ref.intercept_)


def test_fit_resume_sets_a_given_generator(tmp_path):
    X, y = regression()
    path = tmp_path / "c"
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=5, checkpoint=path)
    g = np.random.default_rng(999)
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=g, resume=path)
    assert g.bit_generator.state == fastgd.load(path).extra["fit"]["rng"]
    with pytest.raises(ValueError, match="generator was a PCG64, random_state is a "
                                         "Generator of MT19937"):
        fastgd.fit(fastgd.LinearRegression(), X, y, epochs=3, resume=path,
                   random_state=np.random.Generator(np.random.MT19937(1)))


def _warm_model(X, y):
    model = fastgd.LinearRegression()
    fastgd.fit(model, X, y, epochs=1, random_state=0)
    return model


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(checkpoint=3), TypeError, "checkpoint must be a str or os.PathLike path, got 3"),
    (dict(checkpoint=b"x"), TypeError, "checkpoint must be a str"),
    (dict(checkpoint="{tmp}/missing/dir/c"), ValueError, "directory .* does not exist"),
    (dict(checkpoint="{tmp}"), ValueError, "is a directory"),
    (dict(resume=1.5), TypeError, "resume must be a str or os.PathLike path, got 1.5"),
    (dict(resume="{tmp}/nothing"), FileNotFoundError, "nothing"),
    (dict(resume="{tmp}/plain"), ValueError, "not one written by fastgd.fit"),
    (dict(resume="{tmp}/broken"), ValueError, "cannot load checkpoint"),
    (dict(resume="{tmp}/run", batch_size=16), ValueError,
     "written by a run with batch_size=32; this call has batch_size=16"),
    (dict(resume="{tmp}/run", optimizer="adam"), ValueError,
     "with optimizer='SGD'; this call has optimizer='Adam'"),
    (dict(resume="{tmp}/run", lr=0.02), ValueError, "lr=0.01; this call has lr=0.02"),
    (dict(resume="{tmp}/run", optimizer_kwargs=dict(momentum=0.1)), ValueError,
     "optimizer_kwargs="),
    (dict(resume="{tmp}/run", epochs=1), ValueError, "after 2 epochs, more than epochs=1"),
    (dict(resume="{tmp}/run", schedule=lambda o: lr_scheduler.StepLR(o, 2)), ValueError,
     "schedule=None; this call has schedule='a callable'"),
    (dict(resume="{tmp}/run", data="features"), ValueError,
     "n_features=4; this call has n_features=3"),
    (dict(resume="{tmp}/run", data="float32"), ValueError, "dtype='float64'"),
    (dict(resume="{tmp}/run", model="penalty"), ValueError, "penalty=None"),
    (dict(resume="{tmp}/sched", schedule=lambda o: lr_scheduler.ExponentialLR(o, 0.9)),
     ValueError, "epoch scheduler was StepLR, this call's is ExponentialLR"),
    (dict(checkpoint="{tmp}/c", schedule=lambda o: _Unsaveable(o)), TypeError,
     "the scheduler's state"),
    (dict(checkpoint="{tmp}/c", optimizer_kwargs=dict(momentum=fractions.Fraction(1, 2))),
     TypeError, "optimizer_kwargs\\['momentum'\\]: a Fraction cannot"),
])
def test_fit_checkpoint_arguments_are_checked_before_the_model_changes(tmp_path, kwargs,
                                                                       exc, match):
    X, y = regression()
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=0,
               checkpoint=tmp_path / "run")
    fastgd.fit(fastgd.LinearRegression(), X, y, epochs=2, random_state=0,
               checkpoint=tmp_path / "sched", schedule=lambda o: lr_scheduler.StepLR(o, 2))
    fastgd.save(tmp_path / "plain", a=1)
    (tmp_path / "broken").write_bytes((tmp_path / "run").read_bytes()[:-50])
    kwargs = {k: v.format(tmp=tmp_path) if isinstance(v, str) and "{tmp}" in v else v
              for k, v in kwargs.items()}
    data = kwargs.pop("data", None)
    if data == "features":
        X = X[:, :3].copy()
    elif data == "float32":
        X, y = X.astype(np.float32), y.astype(np.float32)
    model = _warm_model(X, y)
    if kwargs.pop("model", None) == "penalty":
        model.penalty, model.alpha = "l2", 1e-3
    coef, intercept = model.coef_, model.intercept_
    before = (coef.copy(), intercept.copy(), model.history_)
    files = sorted(os.listdir(tmp_path))
    kwargs.setdefault("epochs", 3)
    with pytest.raises(exc, match=match):
        fastgd.fit(model, X, y, random_state=0, **kwargs)
    assert model.coef_ is coef and model.intercept_ is intercept
    same(coef, before[0])
    same(intercept, before[1])
    assert model.history_ is before[2]
    assert sorted(os.listdir(tmp_path)) == files


class _Unsaveable(lr_scheduler.StepLR):
    def __init__(self, optimizer):
        self.hook = object()
        super().__init__(optimizer, 2)


def test_fit_resume_from_a_checkpoint_of_another_model_shape(tmp_path):
    X, y = classes(k=3)
    fastgd.fit(fastgd.SoftmaxRegression(), X, y, epochs=2, checkpoint=tmp_path / "c")
    y4 = y.copy()
    y4[0] = 3  # four classes now: the coefficients are (3, 4)
    model = fastgd.SoftmaxRegression()
    with pytest.raises(ValueError, match="the run's parameters were float64 \\(3, 3\\), "
                                         "float64 \\(3,\\); this model's are float64 "
                                         "\\(3, 4\\), float64 \\(4,\\)"):
        fastgd.fit(model, X, y4, epochs=3, resume=tmp_path / "c")
    assert model.coef_ is None


def test_fit_resume_on_a_path_like_and_the_same_file(tmp_path):
    X, y = regression()
    path = pathlib.Path(tmp_path) / "same.ckpt"
    m = fastgd.LinearRegression().fit(X, y, epochs=1, random_state=3, checkpoint=path)
    m = fastgd.LinearRegression().fit(X, y, epochs=3, random_state=3, checkpoint=path,
                                      resume=path)
    assert fastgd.load(path).extra["fit"]["epoch"] == 3
    assert len(m.history_) == 3
