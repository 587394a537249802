"""fastgd.dask against dask-glm on one LocalCluster (2 worker processes x 1 thread).

    python bench/bench_dask.py                       # the goal table, 2,000,000 x 32
    python bench/bench_dask.py --rows 200000 --break-even
    pytest bench/bench_dask.py                       # the same table, in extra_info

L2-regularised logistic regression (alpha=1e-4, no intercept, so that dask-glm's
``lamduh = alpha * n`` gives the same optimum) on float64 data made on the workers
(``da.random``) in 16 row chunks and persisted before timing. Measured in one run:

- fastgd.dask full-batch iteration: the median time between consecutive epochs of
  ``fastgd.dask.fit`` (``history.time``), SGD full batch;
- dask-glm's solvers with ``normalize=False`` (its default standardises X, one more
  pass, and moves the L2 optimum);
- the single-process fastgd full-batch gradient (``fastgd.models.loss_grad`` on all rows
  of the computed arrays, 1 thread, as each worker has), median of repeats;
- dask-glm ``gradient_descent``: wall time / ``max_iter`` (``tol=0``); dask-glm ``lbfgs``
  likewise;
- round trips: task graphs the scheduler receives per full-batch epoch (a scheduler
  plugin counts ``update_graph``), and the driver's waits (``history.round_trips``);
- time to within 1e-6 (relative) of the optimum's loss: the wall time (setup included;
  median of 3 runs) of the shortest run whose final model reaches it, on both sides:
  fastgd.dask.fit with ``fastgd.LBFGS`` when the package has it (closure-driven: one
  round trip per evaluation; ``max_iter=1``, one L-BFGS iteration per epoch, and the
  defaults; the fastest is printed, with its final loss), otherwise the best of the
  full-batch first-order methods tried below; dask-glm ``lbfgs`` with the smallest
  ``max_iter`` that reaches the target. The optimum is a long full-batch run's (SciPy's
  L-BFGS on the driver, gradient from fastgd's kernel).
- with ``--breakdown`` (alone): where an iteration's time goes -- the kernel's wall and
  CPU time on half the rows in one process and in two at once (no Dask), the round trip of
  the blocks' loss and gradient and of a no-op, and the CPU time per iteration of each
  worker thread and of the driver;
- with ``--break-even``: per-iteration times of fastgd.dask and of one process (1 thread
  and all cores) from 10,000 rows up: the smallest size at which Dask is faster.

Under pytest with ``--benchmark-disable`` (the CI smoke run) it runs at 16,000 rows.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings

import numpy as np
import pytest

import fastgd

da = pytest.importorskip("dask.array")

ALPHA = 1e-4
CHUNKS = 16
GOALS = {"gd_ratio": 0.1, "single_ratio": 1.3, "tto_ratio": 0.33, "round_trips": 1}


def _counter():
    """A scheduler plugin counting the task graphs the scheduler receives."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Counter(SchedulerPlugin):
        graphs = 0

        def update_graph(self, scheduler, **kwargs):
            self.graphs += 1

    return Counter()


def cluster():
    from distributed import Client, LocalCluster
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, host="127.0.0.1",
                         env={"OMP_NUM_THREADS": "1", "FASTGD_NUM_THREADS": "1"})
        client = Client(c)
    client.run(fastgd.set_num_threads, 1)
    return c, client


def data(n, d, seed=0):
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, d), chunks=(math.ceil(n / CHUNKS), d))
    beta = np.random.default_rng(seed).standard_normal(d) / math.sqrt(d) * 2
    p = 1 / (1 + da.exp(-(X @ beta)))
    y = (rng.uniform(size=n, chunks=X.chunks[0]) < p).astype(np.float64)
    return X.persist(), y.persist()


def _median_step(h, skip=1):
    t = np.diff(np.asarray(h.time))[skip:]
    return float(np.median(t))


def fastgd_iteration(X, y, epochs, counter):
    """(median s per epoch, task graphs per epoch, driver waits per epoch, setup s)."""
    m = fastgd.LogisticRegression(penalty="l2", alpha=ALPHA, fit_intercept=False)
    seen = []

    def count(epoch, history, model):  # graphs received between the first and last epoch
        seen.append(counter.graphs)

    t0 = time.perf_counter()
    h = fastgd.dask.fit(m, X, y, optimizer="sgd", lr=1.0, epochs=epochs, callbacks=count)
    setup = time.perf_counter() - t0 - h.time[-1]
    return (_median_step(h), (seen[-1] - seen[0]) / (epochs - 1), h.round_trips / epochs,
            setup)


def single_gradient(Xn, yn, repeats):
    before = fastgd.get_num_threads()
    out = {}
    coef = np.zeros(Xn.shape[1])
    for threads in (1, before):
        fastgd.set_num_threads(threads)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fastgd.models.loss_grad("log_loss", Xn, yn, coef, None, penalty="l2",
                                    alpha=ALPHA)
            ts.append(time.perf_counter() - t0)
        out[threads] = statistics.median(ts)
    fastgd.set_num_threads(before)
    return out


def glm_iteration(X, y, solver, iters):
    from dask_glm import algorithms, families
    fn = getattr(algorithms, solver)
    kw = dict(regularizer="l2", lamduh=ALPHA * X.shape[0]) if solver == "lbfgs" else {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(X, y, max_iter=iters, tol=0, family=families.Logistic, normalize=False, **kw)
    return (time.perf_counter() - t0) / iters


def optimum(Xn, yn):
    """The optimum's loss (SciPy L-BFGS on the driver, fastgd's gradient)."""
    from scipy.optimize import minimize

    def f(b):
        r = fastgd.models.loss_grad("log_loss", Xn, yn, b, None, penalty="l2", alpha=ALPHA)
        return r.loss, r.grad_coef

    r = minimize(f, np.zeros(Xn.shape[1]), jac=True, method="L-BFGS-B",
                 options=dict(maxiter=1000, gtol=1e-12, ftol=1e-16))
    return float(r.fun)


def _objective(Xn, yn, b):
    return fastgd.models.loss_value("log_loss", Xn, yn, np.ascontiguousarray(b), None,
                                    penalty="l2", alpha=ALPHA)


def fastgd_time_to_target(X, y, Xn, yn, target, max_epochs=200, repeats=3):
    """(seconds, method, epochs, round trips, final loss) of the fastest fastgd.dask.fit
    run whose final model reaches ``target``: per method, a first run stops at the first
    epoch whose model reaches it (checked outside that run); then runs with that many
    epochs are timed (median of ``repeats``; setup included) and their models checked."""
    if hasattr(fastgd, "LBFGS"):  # closure-driven: one round trip per evaluation
        # max_iter=1: one L-BFGS iteration per epoch, so the run stops at the first
        # iteration that reaches the target (the default runs up to 20 per epoch)
        candidates = [("LBFGS(max_iter=1)", dict(
            optimizer=fastgd.LBFGS, lr=1.0, optimizer_kwargs=dict(max_iter=1))),
            ("LBFGS", dict(optimizer=fastgd.LBFGS, lr=1.0)),
            ("LBFGS(strong_wolfe)", dict(
                optimizer=fastgd.LBFGS, lr=1.0,
                optimizer_kwargs=dict(line_search_fn="strong_wolfe")))]
    else:
        candidates = [("SGD(momentum=0.9, nesterov)", dict(
            optimizer="sgd", lr=2.0, optimizer_kwargs=dict(momentum=0.9, nesterov=True))),
            ("Adam", dict(optimizer="adam", lr=0.1)),
            ("SGD", dict(optimizer="sgd", lr=4.0))]

    def reached(epoch, history, model):
        return _objective(Xn, yn, model.coef_) <= target

    def model():
        return fastgd.LogisticRegression(penalty="l2", alpha=ALPHA, fit_intercept=False)

    best = None
    for name, kw in candidates:
        try:
            h = fastgd.dask.fit(model(), X, y, epochs=max_epochs, callbacks=reached, **kw)
        except (TypeError, ValueError):  # an option this optimizer does not take
            continue
        if h.stop_reason != "callback":
            continue
        k = len(h)
        runs = []
        for _ in range(repeats):
            m = model()
            t0 = time.perf_counter()
            h = fastgd.dask.fit(m, X, y, epochs=k, **kw)
            runs.append((time.perf_counter() - t0, h.round_trips, _objective(Xn, yn, m.coef_)))
        t, trips, final = sorted(runs)[len(runs) // 2]
        if max(r[2] for r in runs) <= target and (best is None or t < best[0]):
            best = (t, name, k, trips, final)
    return best


def _time_to_target(fit, Xn, yn, target, max_iter=200, repeats=3):
    """(seconds, iterations) of ``fit(k)`` (a solver run with ``max_iter=k``, returning
    its coefficients) with the smallest k reaching the target (found by doubling then
    bisection; each try a full run), then timed: the median of ``repeats`` runs."""

    def run(k):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = fit(k)
        return time.perf_counter() - t0, _objective(Xn, yn, b) <= target

    lo, hi = 0, 4
    t, ok = run(hi)
    while not ok and hi < max_iter:
        lo, hi = hi, hi * 2
        t, ok = run(hi)
    if not ok:
        return None
    best = (t, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        t, ok = run(mid)
        if ok:
            hi, best = mid, (t, mid)
        else:
            lo = mid
    k = best[1]
    runs = sorted(run(k)[0] for _ in range(repeats))
    return (runs[len(runs) // 2], k)


def glm_time_to_target(X, y, Xn, yn, target, max_iter=200, repeats=3):
    """:func:`_time_to_target` of dask-glm's ``lbfgs``."""
    from dask_glm import algorithms, families

    def fit(k):
        return algorithms.lbfgs(X, y, regularizer="l2", lamduh=ALPHA * X.shape[0],
                                max_iter=k, tol=0, family=families.Logistic,
                                normalize=False)
    return _time_to_target(fit, Xn, yn, target, max_iter, repeats)


def daskml_time_to_target(X, y, Xn, yn, target, max_iter=200, repeats=3):
    """:func:`_time_to_target` of dask-ml's ``LogisticRegression(solver="lbfgs")`` (the
    same L2 optimum: ``C = 1 / (alpha n)``, no intercept), or None when dask-ml is
    missing or fails on this Dask."""
    try:
        from dask_ml.linear_model import LogisticRegression
    except Exception:  # noqa: BLE001 - not installed, or not importable with this Dask
        return None

    def fit(k):
        est = LogisticRegression(penalty="l2", C=1.0 / (ALPHA * X.shape[0]),
                                 solver="lbfgs", max_iter=k, tol=0, fit_intercept=False)
        return np.asarray(est.fit(X, y).coef_).ravel()
    try:
        return _time_to_target(fit, Xn, yn, target, max_iter, repeats)
    except Exception:  # noqa: BLE001 - a dask-ml/Dask incompatibility: reported as n/a
        return None


def measure(n=2_000_000, d=32, epochs=30, glm_iters=3, repeats=10, tto=True,
            break_even=False, rounds=3):
    import fastgd.dask  # noqa: F401
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    c, client = cluster()
    counter = _counter()
    c.scheduler.add_plugin(counter, name="fastgd-bench-counter")
    try:
        X, y = data(n, d)
        res = dict(rows=n, features=d, chunks=CHUNKS, rounds=rounds, load=load)
        Xn, yn = (np.require(a.compute(), requirements=("A", "C")) for a in (X, y))
        # rounds of (fastgd.dask, one process, dask-glm) back to back: on a shared machine
        # the load moves, so each ratio is the median of the rounds' ratios
        rows = []
        for r in range(rounds):
            it, graphs, waits, setup = fastgd_iteration(X, y, epochs, counter)
            single = single_gradient(Xn, yn, repeats)
            gd = glm_iteration(X, y, "gradient_descent", glm_iters)
            lb = glm_iteration(X, y, "lbfgs", glm_iters) if r == 0 else math.nan
            rows.append((it, graphs, waits, setup, single[1], single[max(single)], gd, lb))
        cols = list(zip(*rows))
        med = [statistics.median(c) for c in cols]
        (res["fastgd_iter"], res["graphs_per_iter"], res["waits_per_iter"], _s,
         res["single_1t"], res["single_all"], res["glm_gd_iter"], _lb) = med
        res["setup"] = rows[0][3]  # the first fit: the workers import fastgd
        res["glm_lbfgs_iter"] = rows[0][7]
        res["graphs_per_iter"] = max(cols[1])
        res["waits_per_iter"] = max(cols[2])
        res["gd_ratio"] = statistics.median(a / g for a, g in zip(cols[0], cols[6]))
        res["single_ratio"] = statistics.median(
            a / (s1 / 2 + 0.010) for a, s1 in zip(cols[0], cols[4]))
        res["single_ratio_all"] = statistics.median(
            a / (sa / 2 + 0.010) for a, sa in zip(cols[0], cols[5]))
        if tto:
            fstar = optimum(Xn, yn)
            target = fstar + 1e-6 * abs(fstar)
            res["optimum"] = fstar
            f = fastgd_time_to_target(X, y, Xn, yn, target)
            g = glm_time_to_target(X, y, Xn, yn, target)
            if f is not None:
                (res["fastgd_tto"], res["fastgd_tto_method"], res["fastgd_tto_epochs"],
                 res["fastgd_tto_waits"], res["fastgd_tto_loss"]) = f
            if g is not None:
                res["glm_tto"], res["glm_tto_iters"] = g
            if f is not None and g is not None:
                res["tto_ratio"] = f[0] / g[0]
            m = daskml_time_to_target(X, y, Xn, yn, target)
            if f is not None and m is not None:
                res["daskml_tto"], res["daskml_tto_iters"] = m
                res["tto_ratio_daskml"] = f[0] / m[0]
        del Xn, yn
        if break_even:
            res["break_even"] = _break_even(client, counter, d)
        return res
    finally:
        client.close()
        c.close()


def _break_even(client, counter, d):
    rows = []
    for n in (10_000, 30_000, 100_000, 300_000, 1_000_000, 2_000_000):
        X, y = data(n, d)
        t_dask = fastgd_iteration(X, y, 20, counter)[0]
        Xn, yn = (np.require(a.compute(), requirements=("A", "C")) for a in (X, y))
        m = fastgd.LogisticRegression(penalty="l2", alpha=ALPHA, fit_intercept=False)
        h = fastgd.fit(m, Xn, yn, optimizer="sgd", lr=1.0, batch_size=None, epochs=20,
                       shuffle=False)
        t_all = _median_step(h)
        before = fastgd.get_num_threads()
        fastgd.set_num_threads(1)
        h = fastgd.fit(m, Xn, yn, optimizer="sgd", lr=1.0, batch_size=None, epochs=20,
                       shuffle=False)
        fastgd.set_num_threads(before)
        rows.append((n, t_dask, _median_step(h), t_all))
        del X, y
    return rows


def _half_gradient(args):
    """In a fresh process: loss_grad on ``rows`` x ``d`` rows (1 thread) ``reps`` times
    from the wall-clock instant ``start``; (median wall, median thread CPU time) in s."""
    rows, d, reps, start, seed = args
    fastgd.set_num_threads(1)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, d))
    y = (rng.uniform(size=rows) < 0.5).astype(np.float64)
    coef = np.zeros(d)
    while time.time() < start:
        time.sleep(0.001)
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.thread_time()
        fastgd.models.loss_grad("log_loss", X, y, coef, None, penalty="l2", alpha=ALPHA)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _noop_block(block, *args):
    return (block.weight, 0.0, None, None, None, None)


def _thread_cpu():
    import threading

    import psutil
    names = {t.native_id: t.name for t in threading.enumerate()}
    return {names.get(t.id, str(t.id)): t.user_time + t.system_time
            for t in psutil.Process().threads()}


def breakdown(n=2_000_000, d=32, iters=30):
    """Where a full-batch iteration's time goes: the kernel on half the rows in one
    process alone and in two processes at once (no Dask; thread CPU time is what the
    kernel needs, wall time adds the waits for a core), then on the LocalCluster the
    round trip of the blocks' loss-and-gradient and of a no-op block function, with the
    CPU time each worker thread and the driver (client and scheduler) spend per
    iteration."""
    import multiprocessing

    import psutil

    from fastgd.dask import _blocks, _data
    out = [f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}"]
    half = n // 2
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        w, c = pool.map(_half_gradient, [(half, d, iters, 0.0, 0)])[0]
        out.append(f"kernel on {half:,} rows, one process alone: wall {w * 1e3:.1f} ms, "
                   f"CPU {c * 1e3:.1f} ms")
        start = time.time() + 3.0
        r = pool.map(_half_gradient, [(half, d, iters, start, 0), (half, d, iters, start, 1)],
                     chunksize=1)
        out.append(f"the same in two processes at once: wall {r[0][0] * 1e3:.1f} / "
                   f"{r[1][0] * 1e3:.1f} ms, CPU {r[0][1] * 1e3:.1f} / {r[1][1] * 1e3:.1f} ms")
    c, client = cluster()
    try:
        X, y = data(n, d)
        blocks = _data.as_blocks(X, y, None, target="log_loss", classes=None, client=client,
                                 block_rows=None)
        blocks.info()
        coef = np.zeros(d)
        kw = dict(penalty="l2", alpha=ALPHA, l1_ratio=0.15, epsilon=None)
        me = psutil.Process()
        for name, fn in (("loss and gradient", _blocks.block_loss_grad),
                         ("no-op", _noop_block)):
            t0, d0 = client.run(_thread_cpu), me.cpu_times()
            times = []
            for _ in range(iters):
                s = time.perf_counter()
                blocks.map(fn, "log_loss", coef, None, kw, False)
                times.append(time.perf_counter() - s)
            t1, d1 = client.run(_thread_cpu), me.cpu_times()
            drv = ((d1.user + d1.system) - (d0.user + d0.system)) / iters
            per = []
            for wk in t0:
                busy = {k: (t1[wk].get(k, v) - v) / iters for k, v in t0[wk].items()}
                per.append(", ".join(f"{k.split('-')[0] if k[0].isdigit() else k} "
                                     f"{v * 1e3:.1f}" for k, v in sorted(busy.items())
                                     if v > 5e-5))
            out.append(f"round trip, {name} on {len(blocks)} blocks: median "
                       f"{statistics.median(times) * 1e3:.1f} ms (min "
                       f"{min(times) * 1e3:.1f}); CPU ms per iteration: driver (client and "
                       f"scheduler) {drv * 1e3:.1f}; worker threads: " + "; ".join(per))
        out.append(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    finally:
        client.close()
        c.close()
    return "\n".join(out)


def table(res):
    ms = 1e3
    lines = [f"LocalCluster 2 processes x 1 thread; logistic regression, {res['rows']:,} x "
             f"{res['features']} float64 in {res['chunks']} chunks; medians of "
             f"{res['rounds']} rounds (times) and of the rounds' ratios; load average "
             f"before: {res['load']}",
             "",
             "| measure | value | goal |", "|---|---|---|",
             f"| fastgd.dask full-batch iteration (setup: blocks made, checked, placed) | "
             f"{res['fastgd_iter'] * ms:.1f} ms ({res['setup']:.2f} s) | |",
             f"| single-process fastgd full-batch gradient (1 thread / all cores) | "
             f"{res['single_1t'] * ms:.1f} / {res['single_all'] * ms:.1f} ms | |",
             f"| dask-glm gradient_descent iteration | {res['glm_gd_iter'] * ms:.0f} ms | |",
             f"| dask-glm lbfgs iteration | {res['glm_lbfgs_iter'] * ms:.0f} ms | |",
             f"| fastgd.dask iteration / dask-glm gradient_descent iteration | "
             f"{res['gd_ratio']:.3f} | <= 0.1 |",
             f"| fastgd.dask iteration / (single-process gradient / 2 + 10 ms), 1 thread "
             f"(all cores) | {res['single_ratio']:.2f} ({res['single_ratio_all']:.2f}) | "
             f"<= 1.3 |",
             f"| scheduler task graphs per full-batch iteration (driver waits) | "
             f"{res['graphs_per_iter']:.2f} ({res['waits_per_iter']:.2f}) | 1 |"]
    if "tto_ratio" in res:
        lines.append(f"| time to 1e-6 of the optimum: fastgd.dask "
                     f"{res['fastgd_tto_method']} ({res['fastgd_tto_epochs']} epochs, "
                     f"{res['fastgd_tto_waits']} round trips, final loss "
                     f"{res['fastgd_tto_loss']:.10f}, optimum {res['optimum']:.10f}) "
                     f"{res['fastgd_tto']:.2f} s / "
                     f"dask-glm lbfgs ({res['glm_tto_iters']} iterations) "
                     f"{res['glm_tto']:.2f} s | {res['tto_ratio']:.2f} | <= 0.33 |")
    elif "optimum" in res:
        lines.append("| time to 1e-6 of the optimum | not reached by one side | <= 0.33 |")
    if "tto_ratio_daskml" in res:
        lines.append(f"| the same / dask-ml LogisticRegression(solver='lbfgs') "
                     f"({res['daskml_tto_iters']} iterations) {res['daskml_tto']:.2f} s | "
                     f"{res['tto_ratio_daskml']:.2f} | |")
    elif "optimum" in res:
        lines.append("| the same / dask-ml LogisticRegression(solver='lbfgs') | "
                     "not available or not reached | |")
    if "break_even" in res:
        lines += ["", "| rows | fastgd.dask iteration | one process, 1 thread | "
                  "one process, all cores |", "|---|---|---|---|"]
        lines += [f"| {n:,} | {a * ms:.2f} ms | {b * ms:.2f} ms | {c * ms:.2f} ms |"
                  for n, a, b, c in res["break_even"]]
    return "\n".join(lines)


def test_dask_goal_table(benchmark, request):
    pytest.importorskip("distributed")
    pytest.importorskip("dask_glm")
    smoke = request.config.getoption("benchmark_disable", False)
    kw = (dict(n=16_000, d=8, epochs=4, glm_iters=2, repeats=2, tto=False, rounds=1) if smoke
          else dict())
    res = benchmark.pedantic(measure, kwargs=kw, rounds=1, iterations=1)
    assert res["graphs_per_iter"] == 1.0 and res["waits_per_iter"] == 1.0
    benchmark.extra_info.update({k: v for k, v in res.items() if k != "break_even"})
    print("\n" + table(res))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-tto", action="store_true", help="skip the time-to-optimum row")
    ap.add_argument("--break-even", action="store_true")
    ap.add_argument("--breakdown", action="store_true",
                    help="only where an iteration's time goes (kernel alone and in pairs, "
                         "round trips, CPU per thread)")
    a = ap.parse_args()
    if a.breakdown:
        print(breakdown(a.rows, a.features))
        raise SystemExit
    print(table(measure(a.rows, a.features, a.epochs, tto=not a.no_tto,
                        break_even=a.break_even, rounds=a.rounds)))
