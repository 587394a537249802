"""The checkpoints of :func:`fastgd.fit` runs (its ``checkpoint=`` and ``resume=``
arguments): what one epoch's end writes, and reading it back to resume with the bits of
the uninterrupted run."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgd.io.checkpoint import (
    Checkpoint,
    _fspath,
    check_generator_state,
    generator_state,
    load,
    restore_generator,
    save,
    scheduler_state,
)

__all__ = ["run_settings", "save_fit", "FitResume"]


def run_settings(model, X, w, cls, lr, batch_size, shuffle, schedule, clip_norm,
                 clip_value, tol, n_iter_no_change, gtol, early_stopping,
                 validation_fraction, record_steps, optimizer_kwargs) -> dict:
    """What a run resumed from a checkpoint must share with the run that wrote it (the
    model, the data's shape and dtype, every argument of :func:`fastgd.fit` but ``epochs``,
    ``random_state``, ``callbacks``, ``checkpoint`` and ``resume``)."""
    return {
        "model": type(model).__name__, "loss": model.loss, "penalty": model.penalty,
        "alpha": float(model.alpha), "l1_ratio": float(model.l1_ratio),
        "epsilon": None if model.epsilon is None else float(model.epsilon),
        "fit_intercept": bool(model.fit_intercept),
        "n_samples": X.shape[0], "n_features": X.shape[1], "dtype": X.dtype.name,
        "sample_weight": w is not None, "optimizer": cls.__name__, "lr": lr,
        "batch_size": batch_size, "shuffle": shuffle,
        "schedule": schedule if isinstance(schedule, str) or schedule is None
        else "a callable", "clip_norm": clip_norm, "clip_value": clip_value, "tol": tol,
        "n_iter_no_change": n_iter_no_change, "gtol": gtol,
        "early_stopping": early_stopping, "validation_fraction": validation_fraction,
        "record_steps": record_steps, "optimizer_kwargs": dict(optimizer_kwargs),
    }


def save_fit(path: str, opt: Any, params: list, *, settings: dict, epoch: int,
             history: Any, best: float, no_improve: int, n_steps: int, hess_next: bool,
             rng: np.random.Generator, val_rows: np.ndarray | None, backup: list,
             step_sched: Any, epoch_sched: Any) -> None:
    """Write the state of a :func:`fastgd.fit` run after ``epoch`` epochs (the
    ``checkpoint=`` file): the parameters and the optimizer's state, and under
    ``extra["fit"]`` everything else the loop carries from one epoch to the next."""
    steps = history.__dict__.get("steps")
    scheds = {}
    for kind, sched in (("step", step_sched), ("epoch", epoch_sched)):
        scheds[kind] = (None if sched is None
                        else [type(sched).__name__, scheduler_state(sched)])
    state = {
        "settings": settings, "epoch": epoch, "best": float(best),
        "no_improve": no_improve, "n_steps": n_steps, "hess_next": bool(hess_next),
        "history": history.as_dict(), "columns": list(history.columns),
        "converged": bool(history.converged), "stop_reason": history.stop_reason,
        "steps": None if steps is None else steps.as_dict(),
        "rng": generator_state(rng), "val_rows": val_rows, "backup": list(backup),
        "schedulers": scheds,
    }
    save(path, optimizer=opt, params=params, fit=state)


class FitResume:
    """A ``checkpoint=`` file of :func:`fastgd.fit`, read and checked against the call
    that resumes it (:meth:`read`); the other methods put its state back, in the order
    ``fit`` needs."""

    def __init__(self, ckpt: Checkpoint, state: dict) -> None:
        self.ckpt, self.state = ckpt, state

    @classmethod
    def read(cls, path: Any, settings: dict, epochs: int, random_state: Any) -> FitResume:
        path = _fspath("resume", path)
        ckpt = load(path)
        state = ckpt.extra.get("fit")
        keys = ("settings", "epoch", "best", "no_improve", "n_steps", "hess_next", "history",
                "columns", "converged", "stop_reason", "steps", "rng", "val_rows",
                "backup", "schedulers")
        if not isinstance(state, dict) or not all(k in state for k in keys) \
                or not isinstance(state["settings"], dict):
            raise ValueError(f"resume={path!r} is a fastgd checkpoint but not one written "
                             f"by fastgd.fit(checkpoint=...)")
        saved = state["settings"]
        for key, value in settings.items():
            if key not in saved or saved[key] != value:
                raise ValueError(
                    f"resume={path!r} was written by a run with {key}="
                    f"{saved.get(key, '(unset)')!r}; this call has {key}={value!r} (a "
                    f"resumed run needs the model, data shape and arguments of the run it "
                    f"continues; only epochs, random_state, callbacks and checkpoint may "
                    f"differ)")
        done = state["epoch"]
        if not isinstance(done, int) or isinstance(done, bool) or done < 1:
            raise ValueError(f"resume={path!r}: malformed epoch count {done!r}")
        if done > epochs:
            raise ValueError(f"resume={path!r} holds a run after {done} epochs, more than "
                             f"epochs={epochs}")
        name = check_generator_state(state["rng"], f"resume={path!r}")
        try:
            restore_generator(state["rng"], None)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"resume={path!r}: malformed random generator state "
                             f"({exc})") from exc
        if isinstance(random_state, np.random.Generator) \
                and type(random_state.bit_generator).__name__ != name:
            raise ValueError(f"resume={path!r}: the run's generator was a {name}, "
                             f"random_state is a Generator of "
                             f"{type(random_state.bit_generator).__name__}")
        if ckpt.optimizer_state is None or not ckpt._params_of_optimizer:
            raise ValueError(f"resume={path!r} holds no optimizer state of a fit")
        return cls(ckpt, state)

    def rows(self, n: int) -> tuple[np.ndarray | None, np.ndarray]:
        """The run's (validation rows, training rows)."""
        val = self.state["val_rows"]
        if val is None:
            return None, np.arange(n, dtype=np.int64)
        val = np.asarray(val)
        if val.dtype != np.int64 or val.ndim != 1 or not 0 < val.size < n \
                or val.min() < 0 or val.max() >= n:
            raise ValueError(f"resume={self.ckpt.path!r}: malformed validation rows")
        keep = np.ones(n, dtype=bool)
        keep[val] = False
        return val.copy(), np.flatnonzero(keep).astype(np.int64)

    def restore(self, opt: Any, params: list, step_sched: Any, epoch_sched: Any) -> None:
        """Check, then load the optimizer's and the schedulers' states and copy the
        parameters in (``Checkpoint.restore`` checks the parameters' count, shapes and
        dtypes and the optimizer before it writes)."""
        path = self.ckpt.path
        theirs = [(p.dtype, p.shape) for p in self.ckpt.params]
        mine = [(p.dtype, p.shape) for p in params]
        if theirs != mine:
            def show(shapes):
                return ", ".join(f"{dtype} {shape}" for dtype, shape in shapes)
            raise ValueError(f"resume={path!r}: the run's parameters were {show(theirs)}; "
                             f"this model's are {show(mine)}")
        saved = self.state["schedulers"]
        pairs = []
        for kind, sched in (("step", step_sched), ("epoch", epoch_sched)):
            my_class = None if sched is None else type(sched).__name__
            their_class = None if saved.get(kind) is None else saved[kind][0]
            if my_class != their_class:
                raise ValueError(f"resume={path!r}: the run's {kind} scheduler was "
                                 f"{their_class}, this call's is {my_class}")
            if sched is not None:
                if not isinstance(saved[kind][1], dict):
                    raise ValueError(f"resume={path!r}: malformed scheduler state")
                pairs.append((sched, saved[kind][1]))
        backup = self.state["backup"]
        if not (isinstance(backup, list) and len(backup) == len(params)
                and all(isinstance(b, np.ndarray) and b.shape == p.shape
                        and b.dtype == p.dtype for b, p in zip(backup, params))):
            raise ValueError(f"resume={path!r}: the saved parameter copies do not match "
                             f"the model's parameters")
        self.ckpt.restore(optimizer=opt, params=params)
        for sched, sched_state in pairs:
            sched.load_state_dict(sched_state)

    def backup(self) -> list[np.ndarray]:
        return [np.array(b, order="C", copy=True) for b in self.state["backup"]]

    def continue_run(self, history: Any, steps: Any, epochs: int) -> tuple:
        """Fill ``history`` (and ``steps``) with the saved rows; return (first epoch to
        run, best, no_improve, n_steps, hess_next, seconds elapsed)."""
        st = self.state
        if list(st["columns"]) != list(history.columns) or (st["steps"] is None) != (
                steps is None):
            raise ValueError(f"resume={self.ckpt.path!r}: the saved history has columns "
                             f"{st['columns']}, this run's are {list(history.columns)}")
        for target, values in ((history, st["history"]), (steps, st["steps"])):
            if target is not None:
                for k in range(len(next(iter(values.values()), []))):
                    target.append(**{c: v[k] for c, v in values.items()})
        stop_reason = st["stop_reason"]
        converged = st["converged"]
        if not converged:  # a run stopped by a callback goes on; a converged one is over
            stop_reason = "epochs"
        history.__dict__.update(converged=converged, stop_reason=stop_reason,
                                n_steps=st["n_steps"])
        first = epochs if converged else st["epoch"]
        elapsed = history.time[-1] if len(history) else 0.0
        return first, st["best"], st["no_improve"], st["n_steps"], st["hess_next"], elapsed

    def generator(self, rng: np.random.Generator) -> np.random.Generator:
        """``rng`` (a Generator given as random_state) or a new one, at the saved state."""
        return restore_generator(self.state["rng"], rng)
