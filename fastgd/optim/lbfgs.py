"""L-BFGS: torch.optim.LBFGS's row, and its closure-driven step over the flat parameters.

Unlike the element-wise rules, a step of L-BFGS evaluates the objective itself, as often
as its line search needs, through the caller's closure, and works on the flat vector of
all parameters. Its control flow (the history, the step length, the strong-Wolfe line
search with cubic interpolation, the stopping tests) is written here in torch.optim.LBFGS's
order; the vector work (dots, axpys, the two-loop recursion) runs on the active backend
(:mod:`fastgd.reference.lbfgs` is its specification, src/optim/lbfgs.h its C).

The closure contract: ``closure()`` evaluates the objective at the **current** values of
the parameter arrays (which the optimizer changes in place between calls) and returns
``(loss, grads)``: the loss as a real number and the gradients as a list aligned with the
parameters (arrays of their shapes and dtypes; None counts as zeros, as a missing
``.grad`` in torch). ``step(closure)`` returns the loss of its first evaluation, as torch's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np

from fastgd import backends
from fastgd.optim.optimizer import Optimizer
from fastgd.optim.spec import LR, Hyperparameter, OptimizerSpec, Rule, class_doc, not_nan

#: torch's line search constants (``_strong_wolfe``'s defaults; torch's step passes only
#: ``max_ls``, so the bracket test uses 1e-9 whatever ``tolerance_change`` is).
C1, C2, LS_TOLERANCE_CHANGE = 1e-4, 0.9, 1e-9
#: A curvature pair is stored when ``y . s`` exceeds this (torch's constant).
CURVATURE_MIN = 1e-10
#: The state, in torch's names (kept in the first parameter's entry, ``state[0]``).
STATE = ("func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
         "prev_flat_grad", "prev_loss")


def _int_at_least(name: str, low: int) -> Rule:
    return Rule(lambda g: g[name] is not None and g[name] >= low,
                "Invalid " + name + " value: {" + name + "}")


def _line_search_ok(group: Mapping[str, Any]) -> bool:
    value = group["line_search_fn"]
    if value is not None and not isinstance(value, str):
        raise TypeError(f"line_search_fn must be None or 'strong_wolfe', got {value!r}")
    return value in (None, "strong_wolfe")


SPEC = OptimizerSpec(
    name="LBFGS",
    kernel="lbfgs_two_loop",
    matches="torch.optim.LBFGS",
    summary="L-BFGS: a quasi-Newton method for full-batch objectives, driven by a closure, "
            "with an optional strong-Wolfe line search.",
    hyperparameters=(
        Hyperparameter("lr", 1, "real", "learning rate: the step length tried first "
                       "(the first iteration scales it by min(1, 1 / sum of abs(g)))"),
        Hyperparameter("max_iter", 20, "int", "maximal number of iterations per step()"),
        Hyperparameter("max_eval", None, "int_or_none", "maximal number of closure "
                       "evaluations per step() (None: max_iter * 5 // 4)"),
        Hyperparameter("tolerance_grad", 1e-7, "real", "stop when the largest abs(g_i) <= this"),
        Hyperparameter("tolerance_change", 1e-9, "real", "stop when a step changes the loss, "
                       "or any parameter, by less than this"),
        Hyperparameter("history_size", 100, "int", "number of curvature pairs (s, y) kept"),
        Hyperparameter("line_search_fn", None, "str_or_none", "None (fixed step lr) or "
                       "'strong_wolfe'"),
    ),
    rules=(LR, _int_at_least("max_iter", 1), _int_at_least("max_eval", 1),
           not_nan("tolerance_grad"), not_nan("tolerance_change"),
           _int_at_least("history_size", 1),
           Rule(_line_search_ok, "only 'strong_wolfe' is supported as line_search_fn, got "
                                 "{line_search_fn!r}")),
    state=(),
    counts_steps=False,
    closure=True,
    kernel_table=False,
    step_functions=("lbfgs_dot", "lbfgs_axpy", "lbfgs_abs_max", "lbfgs_abs_sum", "lbfgs_memory",
                "lbfgs_two_loop"),
    global_state=STATE,
)


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                       bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to
    ``bounds`` (default: [min(x1, x2), max(x1, x2)]); their midpoint when the cubic has
    no real minimiser. In IEEE arithmetic (a division by zero gives inf or NaN)."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    x1, f1, g1, x2, f2, g2 = map(np.float64, (x1, f1, g1, x2, f2, g2))
    with np.errstate(all="ignore"):
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1 ** 2 - g1 * g2
        if not d2_square >= 0:
            return float((np.float64(lo) + hi) / 2.0)
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return float(min(max(at, lo), hi))


class LBFGS(Optimizer):
    __doc__ = class_doc(SPEC)
    spec = SPEC

    def __init__(self, params: Any, lr: Any = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if isinstance(lr, np.ndarray):  # torch takes a 1-element Tensor lr
            if lr.size != 1:
                raise ValueError(f"lr array must have 1 element (torch: 'Tensor lr must be "
                                 f"1-element'), got shape {lr.shape}")
            lr = lr.reshape(()).item()
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        super().__init__(params, lr=lr, max_iter=max_iter, max_eval=max_eval,
                         tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                         history_size=history_size, line_search_fn=line_search_fn)

    # -- groups and state: one group, global state ------------------------------------------

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """The one group of parameters (torch's LBFGS takes no second group)."""
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)
        params = self.param_groups[0]["params"]
        dtypes = {p.dtype for p in params}
        if len(dtypes) > 1:
            self.param_groups.clear()
            self._validated.clear()
            self._needed.clear()
            raise TypeError(f"LBFGS steps all parameters as one vector: they must share one "
                            f"dtype, got {sorted(str(d) for d in dtypes)}")

    def _needed_state(self, group: Mapping[str, Any], p: np.ndarray | None = None) -> frozenset:
        return frozenset()

    def plan_calls(self, group_index: int, items: list) -> list:
        raise TypeError("LBFGS has no per-tensor plan: its step(closure) evaluates the "
                        "objective itself")

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{'state': {0: {...}}, 'param_groups': [{..., 'params': [0,
        1, ...]}]}``, the state (after the first step) in the first parameter's entry:
        ``func_evals``, ``n_iter`` (ints), ``d``, ``prev_flat_grad`` (flat arrays),
        ``old_dirs``, ``old_stps`` (lists of flat arrays, oldest first), ``ro`` (a list of
        floats), ``t``, ``H_diag``, ``prev_loss`` (floats). Arrays are copies."""
        out = super().state_dict()
        out["state"] = {i: {k: _copied(v) for k, v in s.items()}
                        for i, s in self.state.items()}
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (or torch's, converted to NumPy: 0-d arrays become
        floats; its scratch entry ``al`` is not needed and is dropped). Every entry is
        checked (names, types, the flat length and dtype of the arrays, one history entry
        per pair) before anything is replaced."""
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        saved = state_dict["state"]
        if not isinstance(saved, Mapping):
            raise TypeError(f"state_dict['state'] must be a dict keyed by parameter id, got "
                            f"{type(saved).__name__}")
        groups = list(state_dict["param_groups"])
        if len(groups) != 1 or not isinstance(groups[0], Mapping) or "params" not in groups[0]:
            raise ValueError("an LBFGS state dict has one parameter group")
        ids = list(groups[0]["params"])
        state = {}
        if saved:
            if len(saved) != 1 or not ids or next(iter(saved)) != ids[0]:
                raise ValueError(f"an LBFGS state dict keeps its state under the first "
                                 f"parameter's id ({ids[0] if ids else None!r}), got ids "
                                 f"{list(saved)}")
            state = {0: self._loaded(next(iter(saved.values())))}
        plain = {"state": {}, "param_groups": groups}
        super().load_state_dict(plain)  # checks and loads the group
        self.state = state

    def _loaded(self, saved: Any) -> dict[str, Any]:
        if not isinstance(saved, Mapping):
            raise TypeError(f"the LBFGS state must be a dict, got {type(saved).__name__}")
        unknown = set(saved) - set(STATE) - {"al"}
        if unknown:
            raise ValueError(f"the LBFGS state holds entries it does not keep: "
                             f"{sorted(unknown)}")
        params = self.param_groups[0]["params"]
        n = sum(p.size for p in params)
        dtype = params[0].dtype

        def vector(name: str, value: Any) -> np.ndarray:
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise TypeError(f"LBFGS state {name} must be a float array, got {value!r}")
            if value.shape != (n,):
                raise ValueError(f"LBFGS state {name} has shape {value.shape}, the flat "
                                 f"parameters ({n},)")
            return np.array(value, dtype=dtype, order="C")

        def number(name: str, value: Any, whole: bool = False) -> Any:
            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.reshape(()).item()
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
                raise TypeError(f"LBFGS state {name} must be a number, got {value!r}")
            x = float(value)
            if whole:
                if not (math.isfinite(x) and x == int(x) and x >= 0):
                    raise ValueError(f"LBFGS state {name} must be a count, got {value!r}")
                return int(x)
            return x

        out: dict[str, Any] = {}
        for name, value in saved.items():
            if name == "al":
                continue
            if name in ("func_evals", "n_iter"):
                out[name] = number(name, value, whole=True)
            elif value is None:
                out[name] = None
            elif name in ("d", "prev_flat_grad"):
                out[name] = vector(name, value)
            elif name in ("old_dirs", "old_stps"):
                if not isinstance(value, (list, tuple)):
                    raise TypeError(f"LBFGS state {name} must be a list of arrays")
                out[name] = [vector(f"{name}[{k}]", v) for k, v in enumerate(value)]
            elif name == "ro":
                if not isinstance(value, (list, tuple)):
                    raise TypeError("LBFGS state ro must be a list of numbers")
                out[name] = [number(f"ro[{k}]", v) for k, v in enumerate(value)]
            else:
                out[name] = number(name, value)
        sizes = {len(out[k]) for k in ("old_dirs", "old_stps", "ro") if out.get(k) is not None}
        if len(sizes) > 1:
            raise ValueError("LBFGS state old_dirs, old_stps and ro must be of one length")
        return out

    # -- the step ---------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any], *,  # type: ignore[override]
             nonfinite: str | None = None) -> float:
        """Run up to ``max_iter`` L-BFGS iterations; return the loss of the first
        evaluation.

        ``closure()`` evaluates the objective at the current values of the parameter
        arrays and returns ``(loss, grads)``: a real number and a list of gradients
        aligned with the parameters (arrays of their shapes and dtypes, or None for
        zeros). The optimizer changes the parameters in place between calls (line-search
        trials included) and calls it up to ``max_eval`` times.

        All or nothing: when the closure raises, or returns something malformed
        (TypeError/ValueError naming it), the parameters are put back as they were at
        the start of the step and the state is unchanged. ``nonfinite`` is not taken
        (TypeError): a NaN loss or gradient propagates as in torch.
        """
        if nonfinite is not None:
            raise TypeError("LBFGS.step takes no nonfinite option")
        if not callable(closure):
            raise TypeError(f"LBFGS.step needs a closure returning (loss, grads), got "
                            f"{type(closure).__name__}")
        self._revalidate_groups()
        self._recheck_params()
        params = self.param_groups[0]["params"]
        views = [p.reshape(-1) for p in params]
        start = np.concatenate(views) if views else np.empty(0)
        try:
            return _Run(self, closure, params, views, backends.active()).run()
        except BaseException:
            _set_flat(views, start)
            raise


def _copied(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _set_flat(views: Sequence[np.ndarray], flat: np.ndarray) -> None:
    offset = 0
    for v in views:
        v[...] = flat[offset:offset + v.size]
        offset += v.size


class _Run:
    """One ``step(closure)``: torch.optim.LBFGS.step's algorithm, with the state held
    locally and committed at the end."""

    def __init__(self, opt: LBFGS, closure: Callable[[], Any], params: list[np.ndarray],
                 views: list[np.ndarray], kernels: Any) -> None:
        self.opt, self.closure, self.params, self.views, self.k = (opt, closure, params,
                                                                    views, kernels)
        self.n = sum(v.size for v in views)
        self.dtype = params[0].dtype

    # the parameters and the closure

    def add(self, t: float, d: np.ndarray) -> None:
        """``p += t * d`` over the flat parameters (torch's ``_add_grad``)."""
        offset = 0
        for v in self.views:
            self.k.lbfgs_axpy(v, t, d[offset:offset + v.size])
            offset += v.size

    def evaluate(self) -> tuple[float, np.ndarray]:
        """The closure's loss and its gradients as one flat array, checked."""
        out = self.closure()
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"the closure must return (loss, grads), got "
                            f"{type(out).__name__}")
        loss, grads = out
        if isinstance(loss, np.ndarray) and loss.size == 1:
            loss = loss.reshape(()).item()
        if isinstance(loss, (bool, np.bool_)) or not isinstance(loss, Real):
            raise TypeError(f"the closure's loss must be a real number, got {loss!r}")
        if not isinstance(grads, (list, tuple)) or len(grads) != len(self.params):
            raise TypeError(f"the closure's grads must be a list of {len(self.params)} "
                            f"arrays aligned with the parameters, got {grads!r:.80}")
        flat = np.empty(self.n, self.dtype)
        offset = 0
        for k, (p, g) in enumerate(zip(self.params, grads)):
            part = flat[offset:offset + p.size]
            offset += p.size
            if g is None:
                part[...] = 0
                continue
            if not isinstance(g, (np.ndarray, np.generic)):
                raise TypeError(f"grads[{k}] must be a numpy.ndarray or None, got "
                                f"{type(g).__name__}")
            if g.dtype != p.dtype:
                raise TypeError(f"grads[{k}] has dtype {g.dtype} but its parameter has dtype "
                                f"{p.dtype}")
            if g.shape != p.shape:
                raise ValueError(f"grads[{k}] has shape {g.shape} but its parameter has "
                                 f"shape {p.shape}")
            part.reshape(p.shape)[...] = g
        return float(loss), flat

    def directional(self, x: np.ndarray, t: float, d: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective at ``x + t d``; the parameters are ``x`` again afterwards."""
        self.add(t, d)
        loss, flat = self.evaluate()
        _set_flat(self.views, x)
        return loss, flat

    # the step

    def run(self) -> float:
        k = self.k
        g = self.opt.param_groups[0]
        lr = float(g["lr"])
        max_iter, max_eval = g["max_iter"], g["max_eval"]
        tolerance_grad, tolerance_change = g["tolerance_grad"], g["tolerance_change"]
        line_search, history_size = g["line_search_fn"], g["history_size"]
        old = self.opt.state.get(0, {})
        s = {name: old[name] for name in STATE if name in old}
        s["func_evals"] = s.get("func_evals", 0)
        s["n_iter"] = s.get("n_iter", 0)

        orig_loss, flat_grad = self.evaluate()
        loss = orig_loss
        current_evals = 1
        s["func_evals"] += 1
        if k.lbfgs_abs_max(flat_grad) <= tolerance_grad:
            self.opt.state[0] = s
            return orig_loss

        d: Any = s.get("d")
        t = s.get("t")
        old_dirs = list(s.get("old_dirs") or [])
        old_stps = list(s.get("old_stps") or [])
        ro = list(s.get("ro") or [])
        h_diag = s.get("H_diag")
        prev_flat_grad, prev_loss = s.get("prev_flat_grad"), s.get("prev_loss")
        if d is not None:
            d = d.copy()  # written in place below; the saved state stays as it was
        al = np.zeros(history_size)
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            s["n_iter"] += 1
            if s["n_iter"] == 1:
                d = np.negative(flat_grad)
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y, st = np.empty(self.n, self.dtype), np.empty(self.n, self.dtype)
                ys, yy = k.lbfgs_memory(y, st, flat_grad, prev_flat_grad, d, t)
                if ys > CURVATURE_MIN:
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(st)
                    ro.append(1.0 / ys)
                    h_diag = ys / yy
                if len(al) < len(old_dirs):
                    al = np.zeros(len(old_dirs))
                k.lbfgs_two_loop(d, flat_grad, old_dirs, old_stps, ro, h_diag, al)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            if s["n_iter"] == 1:
                total = k.lbfgs_abs_sum(flat_grad)
                t = min(1.0, 1.0 / total if total else math.inf) * lr
            else:
                t = lr
            gtd = k.lbfgs_dot(flat_grad, d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            opt_cond = False
            if line_search is not None:
                x_init = np.concatenate(self.views) if self.views else np.empty(0)
                loss, flat_grad, t, ls_func_evals = self.strong_wolfe(
                    x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self.add(t, d)
                opt_cond = k.lbfgs_abs_max(flat_grad) <= tolerance_grad
            else:
                self.add(t, d)
                if n_iter != max_iter:
                    loss, flat_grad = self.evaluate()
                    opt_cond = k.lbfgs_abs_max(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            s["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if k.lbfgs_abs_max(d) * abs(t) <= tolerance_change:  # max |t d_i|, exactly
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        s.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                 prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        self.opt.state[0] = s
        return orig_loss

    def strong_wolfe(self, x: np.ndarray, t: float, d: np.ndarray, f: float,
                     g: np.ndarray, gtd: float, max_ls: int = 25
                     ) -> tuple[float, np.ndarray, float, int]:
        """A step length satisfying the strong Wolfe conditions along ``d`` from ``x``
        (torch's ``_strong_wolfe``: bracketing, then zoom by cubic interpolation).
        Returns the loss, flat gradient and step length there, and the evaluations made."""
        dot = self.k.lbfgs_dot
        d_norm = self.k.lbfgs_abs_max(d)
        f_new, g_new = self.directional(x, t, d)
        evals = 1
        gtd_new = dot(g_new, d)

        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        done = False
        ls_iter = 0
        bracket: list[float] = []
        bracket_f: list[float] = []
        bracket_g: list[np.ndarray] = []
        bracket_gtd: list[float] = []
        while ls_iter < max_ls:
            if f_new > (f + C1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
                bracket, bracket_f = [t_prev, t], [f_prev, f_new]
                bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
                break
            if abs(gtd_new) <= -C2 * gtd:
                bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
                done = True
                break
            if gtd_new >= 0:
                bracket, bracket_f = [t_prev, t], [f_prev, f_new]
                bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
                break
            # extrapolate: the cubic's minimiser within [t + 0.01 (t - t_prev), 10 t]
            t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                        bounds=(t + 0.01 * (t - t_prev), t * 10))
            t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
            t = t_next
            f_new, g_new = self.directional(x, t, d)
            evals += 1
            gtd_new = dot(g_new, d)
            ls_iter += 1
        if ls_iter == max_ls:
            bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

        # zoom: shrink the bracket until a point satisfies the conditions
        insufficient = False
        low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
        while not done and ls_iter < max_ls:
            if abs(bracket[1] - bracket[0]) * d_norm < LS_TOLERANCE_CHANGE:
                break
            t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                                   bracket[1], bracket_f[1], bracket_gtd[1])
            # too close to an end of the bracket: move 10% of its length inside, unless
            # the last trial was the first one too close
            top, bottom = max(bracket), min(bracket)
            eps = 0.1 * (top - bottom)
            if min(top - t, t - bottom) < eps:
                if insufficient or t >= top or t <= bottom:
                    t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                    insufficient = False
                else:
                    insufficient = True
            else:
                insufficient = False
            f_new, g_new = self.directional(x, t, d)
            evals += 1
            gtd_new = dot(g_new, d)
            ls_iter += 1
            if f_new > (f + C1 * t * gtd) or f_new >= bracket_f[low]:
                bracket[high], bracket_f[high] = t, f_new
                bracket_g[high], bracket_gtd[high] = g_new, gtd_new
                low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
            else:
                if abs(gtd_new) <= -C2 * gtd:
                    done = True
                elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                    bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                    bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
                bracket[low], bracket_f[low] = t, f_new
                bracket_g[low], bracket_gtd[low] = g_new, gtd_new
        return bracket_f[low], bracket_g[low], bracket[low], evals


LBFGS.__module__ = "fastgd.optim"
