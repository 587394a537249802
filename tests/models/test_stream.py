"""fastgd.models.stream.PartialFit: chunks through partial_fit give the bits of fastgd.fit's
epochs over their concatenation (optimizer state and schedules carried), checkpoints by
pickle, and errors before any change."""

import math
import pickle

import numpy as np
import pytest

import fastgd
from fastgd import lr_scheduler
from fastgd.models import PartialFit

# (optimizer, optimizer_kwargs): plain SGD, momentum, Nesterov and adaptive rules
OPTIMIZERS = [("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.9,
              "nesterov": True}), ("adam", {}), ("adagrad", {}), ("rmsprop", {}),
              ("asgd", {}), ("nadam", {}), ("sophia", {})]
SCHEDULES = [None, "optimal", "invscaling"]


def _data(kind, n=240, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    z = X @ np.linspace(-1, 1, d)
    if kind == "linear":
        return fastgd.LinearRegression(penalty="l2", alpha=1e-3), X, z + 0.5
    if kind == "logistic":
        return fastgd.LogisticRegression(penalty="l2", alpha=1e-3), X, (z > 0).astype(float)
    return (fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3), X,
            np.digitize(z, [-0.5, 0.5]).astype(np.int64))


def _chunks(n, sizes):
    edges = np.cumsum([0, *sizes])
    assert edges[-1] == n
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _same_state(state, opt):
    """``state`` (a state_dict's "state") equals ``opt``'s, bit for bit."""
    mine = opt.state_dict()["state"]
    assert state.keys() == mine.keys()
    for k in state:
        assert state[k].keys() == mine[k].keys()
        for name in state[k]:
            np.testing.assert_array_equal(np.asarray(state[k][name]),
                                          np.asarray(mine[k][name]), err_msg=f"{k}/{name}")


def _whole(model, X, y, epochs, path, **kw):
    """fastgd.fit's run; returns its history and its optimizer's final state (from the
    run's checkpoint file)."""
    h = fastgd.fit(model, X, y, epochs=epochs, checkpoint=path, **kw)
    return h, fastgd.load(path).optimizer_state["state"]


# every optimizer on every model, the schedules taking turns (each pair of schedule and
# model, and of schedule and optimizer, is met)
CASES = [(opt, kw, kind, SCHEDULES[(i + j) % 3]) for i, (opt, kw) in enumerate(OPTIMIZERS)
         for j, kind in enumerate(["linear", "logistic", "softmax"])]


@pytest.mark.parametrize("opt,opt_kw,kind,schedule", CASES)
def test_chunks_equal_one_epoch_bit_for_bit(kind, schedule, opt, opt_kw, tmp_path):
    model, X, y = _data(kind)
    kw = dict(optimizer=opt, lr=0.01, batch_size=8, shuffle=False, schedule=schedule,
              optimizer_kwargs=opt_kw)
    ref = model.__class__(penalty="l2", alpha=1e-3)
    h, ref_state = _whole(ref, X, y, 1, tmp_path / "run.ckpt", **kw)
    run = PartialFit(model, **kw)
    for s in _chunks(len(y), [48, 96, 8, 88]):   # multiples of batch_size but the last
        run.partial_fit(X[s], y[s])
    assert run.n_steps == h.n_steps == 30
    run.end_epoch()
    np.testing.assert_array_equal(model.coef_, ref.coef_)
    np.testing.assert_array_equal(model.intercept_, ref.intercept_)
    _same_state(ref_state, run.optimizer)
    for col in ("loss", "grad_norm", "lr"):
        assert run.history[col] == h[col], col


@pytest.mark.parametrize("schedule", ["adaptive", "step"])
def test_epochs_of_chunks_equal_fit_epochs_with_epoch_schedules_and_tol(schedule):
    model, X, y = _data("linear")
    sched = (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5)) \
        if schedule == "step" else schedule
    kw = dict(optimizer="sgd", lr=0.05, batch_size=16, shuffle=False, schedule=sched,
              tol=1e-2, n_iter_no_change=2, optimizer_kwargs={"momentum": 0.5})
    ref = fastgd.LinearRegression(penalty="l2", alpha=1e-3)
    h = fastgd.fit(ref, X, y, epochs=30, **kw)
    assert h.converged and len(h) < 30                   # a stopping rule ends it
    run = PartialFit(model, **kw)
    stopped = False
    for _ in range(30):
        for s in _chunks(len(y), [80, 80, 80]):
            run.partial_fit(X[s], y[s])
        if run.end_epoch():
            stopped = True
            break
    assert stopped and run.history.stop_reason == h.stop_reason
    assert len(run.history) == len(h) and run.history.loss == h.loss
    assert run.history.lr == h.lr
    np.testing.assert_array_equal(model.coef_, ref.coef_)
    np.testing.assert_array_equal(model.intercept_, ref.intercept_)


def test_shuffle_permutes_each_chunk_with_the_runs_generator():
    model, X, y = _data("logistic")
    kw = dict(optimizer="adam", lr=0.01, batch_size=8, schedule="invscaling")
    run = PartialFit(model, shuffle=True, random_state=11, **kw)
    other = fastgd.LogisticRegression(penalty="l2", alpha=1e-3)
    manual = PartialFit(other, shuffle=False, **kw)
    rng = np.random.default_rng(11)
    for s in _chunks(len(y), [96, 96, 48]):
        run.partial_fit(X[s], y[s])
        perm = rng.permutation(s.stop - s.start)
        manual.partial_fit(X[s][perm], y[s][perm])
    np.testing.assert_array_equal(model.coef_, other.coef_)
    assert not np.array_equal(model.coef_, _unshuffled(X, y, kw))


def _unshuffled(X, y, kw):
    m = fastgd.LogisticRegression(penalty="l2", alpha=1e-3)
    fastgd.fit(m, X, y, epochs=1, shuffle=False, **kw)
    return m.coef_


def test_sample_weight_chunks_and_zero_weight_batches():
    model, X, y = _data("linear")
    w = np.random.default_rng(1).uniform(0, 2, len(y))
    w[16:32] = 0.0   # a whole batch of zero weight: skipped, no step
    kw = dict(optimizer="adam", lr=0.01, batch_size=8, shuffle=False)
    ref = fastgd.LinearRegression(penalty="l2", alpha=1e-3)
    h = fastgd.fit(ref, X, y, epochs=1, sample_weight=w, **kw)
    run = PartialFit(model, **kw)
    for s in _chunks(len(y), [40, 200]):
        run.partial_fit(X[s], y[s], sample_weight=w[s])
    run.end_epoch()
    np.testing.assert_array_equal(model.coef_, ref.coef_)
    assert run.history.loss == h.loss and run.n_steps == h.n_steps == 28


@pytest.mark.parametrize("opt", ["adam", "sophia"])
def test_pickle_between_chunks_gives_the_bits_of_the_run_not_stopped(opt):
    model, X, y = _data("softmax")
    kw = dict(optimizer=opt, lr=0.01, batch_size=8, random_state=4, schedule="invscaling")
    run = PartialFit(model, **kw)
    other = PartialFit(fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3), **kw)
    parts = _chunks(len(y), [80, 80, 80])
    run.partial_fit(X[parts[0]], y[parts[0]])
    other.partial_fit(X[parts[0]], y[parts[0]])
    copy = pickle.loads(pickle.dumps(other))
    assert copy.optimizer.param_groups[0]["params"][0] is copy.model.coef_
    for s in parts[1:]:
        run.partial_fit(X[s], y[s])
        copy.partial_fit(X[s], y[s])
    run.end_epoch()
    copy.end_epoch()
    np.testing.assert_array_equal(run.model.coef_, copy.model.coef_)
    np.testing.assert_array_equal(run.model.intercept_, copy.model.intercept_)
    _same_state(run.optimizer.state_dict()["state"], copy.optimizer)
    assert run.history.loss == copy.history.loss and run.n_steps == copy.n_steps


def test_values_changed_in_place_are_continued():
    model, X, y = _data("linear")
    run = PartialFit(model, optimizer="adam", lr=0.01, batch_size=8, shuffle=False)
    run.partial_fit(X[:80], y[:80])
    model.coef_[:] = 0.0
    run.partial_fit(X[80:], y[80:])
    assert run.optimizer.param_groups[0]["params"][0] is model.coef_
    assert run.optimizer.state_dict()["state"][0]["step"] == 30


def test_refusals_leave_the_run_as_it_was():
    model, X, y = _data("linear")
    run = PartialFit(model, optimizer="adam", lr=0.01, batch_size=8, shuffle=False)
    with pytest.raises(ValueError, match="no batch"):
        run.end_epoch()
    run.partial_fit(X[:80], y[:80])
    coef = model.coef_.copy()
    state = pickle.dumps(run.optimizer.state_dict())
    for bad in (X[80:, :4], X[80:].astype(np.float32)):
        with pytest.raises(ValueError, match="no longer the optimizer's"):
            run.partial_fit(bad, y[80:].astype(bad.dtype))
        np.testing.assert_array_equal(model.coef_, coef)
        assert pickle.dumps(run.optimizer.state_dict()) == state
    model.coef_ = model.coef_.copy()      # another array: the optimizer's is not the model's
    with pytest.raises(ValueError, match="replaced"):
        run.partial_fit(X[80:], y[80:])
    bad_y = y[80:].copy()
    bad_y[3] = np.nan
    with pytest.raises(ValueError):
        run.partial_fit(X[80:], bad_y)
    with pytest.raises(TypeError, match="model"):
        PartialFit(X)
    with pytest.raises(ValueError, match="lr"):
        PartialFit(fastgd.LinearRegression(), lr=-1.0)
    with pytest.raises(TypeError, match="random_state"):
        PartialFit(fastgd.LinearRegression(), random_state=1.5)
    with pytest.raises(ValueError, match="schedule"):
        PartialFit(fastgd.LinearRegression(), schedule="cosine")


def test_divergence_ends_the_run():
    model, X, y = _data("linear")
    run = PartialFit(model, optimizer="sgd", lr=1e6, batch_size=8)
    with pytest.raises(FloatingPointError):
        for _ in range(5):
            run.partial_fit(X * 1e3, y)
    assert np.all(np.isfinite(model.coef_))
    with pytest.raises(RuntimeError, match="diverged"):
        run.partial_fit(X, y)


def test_schedule_free_chunks_match_to_rounding():
    model, X, y = _data("linear")
    kw = dict(optimizer="sgdschedulefree", lr=0.01, batch_size=8, shuffle=False)
    ref = fastgd.LinearRegression(penalty="l2", alpha=1e-3)
    fastgd.fit(ref, X, y, epochs=1, **kw)
    run = PartialFit(model, **kw)
    for s in _chunks(len(y), [80, 80, 80]):
        run.partial_fit(X[s], y[s])
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
    assert math.isfinite(run.end_epoch() or 0.0)


@pytest.mark.parametrize("opt,schedule", [("adam", "invscaling"), ("sophia", None),
                                          ("sgd", "adaptive")])
def test_save_between_chunks_and_restore_gives_the_bits_of_the_run_not_stopped(
        tmp_path, opt, schedule):
    model, X, y = _data("softmax")
    kw = dict(optimizer=opt, lr=0.01, batch_size=8, schedule=schedule, tol=1e-3,
              optimizer_kwargs={"momentum": 0.5} if opt == "sgd" else None)
    full = PartialFit(model, random_state=4, **kw)
    parts = _chunks(len(y), [80, 80, 80])
    for _ in range(2):
        for s in parts:
            full.partial_fit(X[s], y[s])
        full.end_epoch()
    stopped = PartialFit(fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3), random_state=4,
                         **kw)
    for s in parts:
        stopped.partial_fit(X[s], y[s])
    stopped.end_epoch()
    stopped.partial_fit(X[parts[0]], y[parts[0]])      # in the middle of an epoch
    path = tmp_path / "run.ckpt"
    stopped.save(path)
    other = fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3)
    run = PartialFit(other, random_state=99, **kw).restore(path)   # the saved generator
    assert run.n_steps == stopped.n_steps and run.epoch == 1
    for s in parts[1:]:
        run.partial_fit(X[s], y[s])
    run.end_epoch()
    np.testing.assert_array_equal(other.coef_, model.coef_)
    np.testing.assert_array_equal(other.intercept_, model.intercept_)
    _same_state(full.optimizer.state_dict()["state"], run.optimizer)
    assert run.history.loss == full.history.loss and run.history.lr == full.history.lr
    assert run.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"]


def test_restore_refuses_other_settings_before_changing_the_model(tmp_path):
    model, X, y = _data("linear")
    run = PartialFit(model, optimizer="adam", lr=0.01, batch_size=8)
    with pytest.raises(RuntimeError, match="not started"):
        run.save(tmp_path / "none.ckpt")
    run.partial_fit(X, y)
    run.save(tmp_path / "run.ckpt")
    with pytest.raises(RuntimeError, match="has started"):
        run.restore(tmp_path / "run.ckpt")
    for other, kw, what in [
        (fastgd.LinearRegression(penalty="l2", alpha=1e-3), dict(optimizer="sgd"),
         "optimizer='Adam'"),
        (fastgd.LinearRegression(penalty="l2", alpha=1e-3), dict(optimizer="adam", lr=0.1),
         "lr=0.01"),
        (fastgd.LinearRegression(penalty="l1", alpha=1e-3), dict(optimizer="adam"),
         "penalty='l2'"),
    ]:
        kw = dict(dict(lr=0.01, batch_size=8), **kw)
        fresh = PartialFit(other, **kw)
        with pytest.raises(ValueError, match=what):
            fresh.restore(tmp_path / "run.ckpt")
        assert other.coef_ is None and fresh.optimizer is None
    fastgd.save(tmp_path / "plain.ckpt", optimizer=run.optimizer)
    with pytest.raises(ValueError, match="not a run written by PartialFit.save"):
        PartialFit(fastgd.LinearRegression(), optimizer="adam").restore(
            tmp_path / "plain.ckpt")


def _csr(X):
    import scipy.sparse as sp
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.7] = 0.0                  # about half the values stored
    return sp.csr_matrix(Xs)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("opt,opt_kw,kind", [("adam", {}, "logistic"),
                                             ("sgd", {"momentum": 0.9}, "softmax"),
                                             ("sophia", {}, "linear")])
def test_carry_over_any_chunk_sizes_equal_one_epoch_bit_for_bit(opt, opt_kw, kind, sparse,
                                                                tmp_path):
    model, X, y = _data(kind, n=237)        # the epoch's last batch: 5 rows
    if sparse:
        X = _csr(X)
    w = np.random.default_rng(2).uniform(0, 2, len(y))
    if kind == "linear":
        w[-5:] = 0.0                          # a last batch of no weight: fit skips it
        w[16:32] = 0.0                        # and a whole chunk's batches (16:19 is one)
    kw = dict(optimizer=opt, lr=0.01, batch_size=8, shuffle=False, schedule="invscaling",
              optimizer_kwargs=opt_kw)
    ref = model.__class__(penalty="l2", alpha=1e-3)
    h, ref_state = _whole(ref, X, y, 2, tmp_path / "run.ckpt", sample_weight=w, **kw)
    run = PartialFit(model, carry_over=True, **kw)
    for _ in range(2):
        for s in _chunks(len(y), [13, 3, 50, 1, 100, 70]):  # no size a multiple of 8
            run.partial_fit(X[s], y[s], sample_weight=w[s])
            assert run.pending_rows == s.stop % 8
        run.end_epoch()
        assert run.pending_rows == 0
    assert run.n_steps == h.n_steps == (54 if kind == "linear" else 60)
    np.testing.assert_array_equal(model.coef_, ref.coef_)
    np.testing.assert_array_equal(model.intercept_, ref.intercept_)
    _same_state(ref_state, run.optimizer)
    for col in ("loss", "grad_norm", "lr"):
        assert run.history[col] == h[col], col


def test_carry_over_without_it_each_chunk_ends_with_a_smaller_batch():
    model, X, y = _data("linear")
    kw = dict(optimizer="sgd", lr=0.01, batch_size=8, shuffle=False)
    run = PartialFit(model, **kw)
    carried = PartialFit(fastgd.LinearRegression(penalty="l2", alpha=1e-3), carry_over=True,
                         **kw)
    for s in _chunks(len(y), [12, 228]):
        run.partial_fit(X[s], y[s])
        carried.partial_fit(X[s], y[s])
    run.end_epoch()
    carried.end_epoch()
    assert run.n_steps == 31 and carried.n_steps == 30
    assert not np.array_equal(run.model.coef_, carried.model.coef_)


def test_carry_over_shuffle_permutes_carried_and_new_rows_together():
    model, X, y = _data("logistic")
    kw = dict(optimizer="adam", lr=0.01, batch_size=8, schedule="invscaling")
    run = PartialFit(model, shuffle=True, random_state=5, carry_over=True, **kw)
    other = fastgd.LogisticRegression(penalty="l2", alpha=1e-3)
    manual = PartialFit(other, shuffle=False, **kw)
    rng = np.random.default_rng(5)
    Xp, yp = X[:0], y[:0]
    for s in _chunks(237, [21, 100, 116]):          # 237 rows: 5 left at the end
        Xc, yc = np.concatenate([Xp, X[s]]), np.concatenate([yp, y[s]])
        perm = rng.permutation(len(yc))
        full = len(yc) // 8 * 8
        manual.partial_fit(Xc[perm][:full], yc[perm][:full])
        Xp, yp = Xc[perm][full:], yc[perm][full:]
        run.partial_fit(X[s], y[s])
    assert run.pending_rows == len(yp) == 5
    manual.partial_fit(Xp, yp)
    run.end_epoch()
    np.testing.assert_array_equal(model.coef_, other.coef_)


def test_carry_over_checkpoint_keeps_the_carried_rows(tmp_path):
    for sparse in (False, True):
        model, X, y = _data("softmax")
        if sparse:
            X = _csr(X)
        kw = dict(optimizer="adam", lr=0.01, batch_size=8, random_state=3, carry_over=True)
        parts = _chunks(len(y), [37, 150, 53])
        full = PartialFit(model, **kw)
        for s in parts:
            full.partial_fit(X[s], y[s])
        full.end_epoch()
        stopped = PartialFit(fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3), **kw)
        stopped.partial_fit(X[parts[0]], y[parts[0]])
        assert stopped.pending_rows == 5
        stopped.save(tmp_path / "run.ckpt")
        other = fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3)
        run = PartialFit(other, **kw).restore(tmp_path / "run.ckpt")
        assert run.pending_rows == 5
        for s in parts[1:]:
            run.partial_fit(X[s], y[s])
        run.end_epoch()
        np.testing.assert_array_equal(other.coef_, model.coef_)
        with pytest.raises(ValueError, match="carry_over=True"):
            PartialFit(fastgd.SoftmaxRegression(penalty="l2", alpha=1e-3),
                       **dict(kw, carry_over=False)).restore(tmp_path / "run.ckpt")


def test_carry_over_refusals_change_nothing():
    model, X, y = _data("linear")
    run = PartialFit(model, optimizer="adam", lr=0.01, batch_size=8, carry_over=True,
                     random_state=0)
    run.partial_fit(X[:13], y[:13])
    coef, pending, rng = model.coef_.copy(), run.pending_rows, run._rng.bit_generator.state
    bad = X[13:30].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        run.partial_fit(bad, y[13:30])
    with pytest.raises(ValueError, match="cannot follow"):
        run.partial_fit(X[13:30, :4], y[13:30])
    with pytest.raises(ValueError, match="cannot follow"):
        run.partial_fit(_csr(X[13:30]), y[13:30])
    with pytest.raises(TypeError, match="carry_over must be a bool"):
        PartialFit(model, carry_over=1)
    np.testing.assert_array_equal(model.coef_, coef)
    assert run.pending_rows == pending and run._rng.bit_generator.state == rng


def test_carry_over_a_chunk_of_no_weight_is_skipped_as_fit_skips_its_batches():
    model, X, y = _data("linear", n=100)
    w = np.ones(len(y))
    w[16:32] = 0.0                            # the second chunk: two batches of no weight
    kw = dict(optimizer="adam", lr=0.01, batch_size=8, shuffle=False)
    ref = fastgd.LinearRegression(penalty="l2", alpha=1e-3)
    h = fastgd.fit(ref, X, y, epochs=1, sample_weight=w, **kw)
    run = PartialFit(model, carry_over=True, **kw)
    for s in _chunks(len(y), [16, 16, 68]):
        run.partial_fit(X[s], y[s], sample_weight=w[s])
        if s.start == 16:
            assert run.n_steps == 2              # nothing run for the second chunk
    run.end_epoch()
    np.testing.assert_array_equal(model.coef_, ref.coef_)
    assert run.n_steps == h.n_steps and run.history.loss == h.loss
