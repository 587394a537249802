"""The fused training loop: the batches of an epoch run in one native call
(``fastgd.backends._models.fused_batches``), with the optimizer's own plan of each step.

It asks the optimizer through its public interface only: ``opt.plan_calls`` (what
``opt.step`` would call: kernels, buffers, scalars, flags), ``opt.note_step()``,
``opt.state``, ``opt.param_groups``, ``opt.hessian_due()``, ``opt.hessian_call()``; the
per-step scalars that the native loop computes itself come from
:func:`fastgd.reference._common.step_formula`.
"""

from __future__ import annotations

import math

import numpy as np

from fastgd import backends
from fastgd.models import losses as _models
from fastgd.reference._common import step_formula
from fastgd.reference._declare import KERNELS, STEP_FORMULAS

__all__: list[str] = []


class _Fused:
    """Runs batches of an epoch in one native call (fastgd.backends._models.fused_batches)
    with any optimizer of the registry as the update.

    The optimizer's own plan (what ``opt.step`` would call: kernels, buffers, scalars and
    flags) is made in Python for each of the next steps, committing the state each step
    makes (step counts, NAdam's ``mu_product``, ...) and stepping the per-step scheduler,
    exactly as the Python loop's ``opt.step`` and ``sched.step()`` do; the native loop then
    runs the batches with those calls. When the native loop stops early (a batch of zero
    weight, a non-finite loss), that bookkeeping is rolled back and replayed for the steps
    taken. An optimizer whose plan commits nothing (SGD, Lion, LARS once their buffers
    exist) with no per-step schedule is planned once. Off without the compiled backend,
    with ``record_steps`` (per-step history rows), with more than one parameter group, or
    when ``enabled`` is False (:data:`fastgd.models.training.FUSED`), and for a sparse X
    (its batches run through :func:`fastgd.models.loss_grad`'s CSR kernel).
    """

    #: the most steps per native call (bounds the tables and the replay after a stop)
    CHUNK = 1024

    def __init__(self, opt, model, X, params, grads, *, clip_norm, clip_value, step_sched,
                 sophia, record_steps, enabled=True):
        self.ok = False
        if not enabled or record_steps or backends.backend() != "cython" \
                or len(opt.param_groups) != 1 or not isinstance(X, np.ndarray):
            return
        core = backends.load("cython")
        self.core = core
        self.models_core = backends.load_models("cython")
        self.opt, self.params, self.grads = opt, params, grads
        self.group = opt.param_groups[0]
        self.items = [(i, p, g) for i, (p, g) in enumerate(zip(params, grads))]
        self.step_sched, self.sophia = step_sched, sophia
        self.clip_norm = -1.0 if clip_norm is None else float(clip_norm)
        self.clip_value = -1.0 if clip_value is None else float(clip_value)
        # the last batch's gradient before clipping (for the history's grad_norm)
        self.last = None if clip_norm is None and clip_value is None \
            else [np.empty_like(g) for g in grads]
        self.estimates = [np.empty_like(p) for p in params] if sophia else None
        self.kind = _models._loss_kind(model.loss)
        self.a1, self.a2 = _models._penalty_weights(model.penalty, model.alpha,
                                                    model.l1_ratio)
        self.eps = _models._epsilon(model.loss, model.epsilon)
        self.f32 = X.dtype == np.float32
        self._zero_order = self._zero = None
        self.ok = True

    # -- planning the next steps as opt.step would ------------------------------------------

    def _scalars(self, kernel):
        decl = KERNELS[kernel]
        return tuple(decl.scalars.items()), tuple(decl.flags)

    def _plan_steps(self, count, hess_next, record=True):
        """Plan and commit the next ``count`` steps (fewer where a step's calls differ from
        the first's, e.g. a fresh state buffer); return (steps planned, the native calls,
        scalar table, flag table, Hessian rows, beta2 per step, lr per step, hess_next
        after them), or None when not even one step can run natively."""
        opt, group = self.opt, self.group
        kernels = backends.active()
        layout = None
        self.formulas = None
        s_rows, f_rows, hess, beta2, lrs = [], [], [], [], []
        checked = set()
        stationary = False
        done = 0
        for r in range(count):
            try:
                calls = opt.plan_calls(0, self.items)  # revalidates the groups, then plans
            except Exception:
                if r == 0:
                    raise  # as opt.step would, before this batch's step
                break  # the steps before run natively; the next call raises
            # the calls' kernels and parameters; their state buffers are those of the
            # first step as long as no step makes new ones
            key = tuple((c.kernel, tuple(map(id, c.lists[0])),
                         tuple(lst is None for lst in c.lists)) for c in calls)
            if any(type(v) is np.ndarray for c in calls for _, entries in c.updates
                   for v in entries.values()):
                if layout is None:
                    return None  # the step makes state buffers: opt.step's first steps
                break
            if layout is None:
                layout, first_calls = key, calls
                specs = [self._scalars(c.kernel) for c in calls]
                width = self.models_core.TABLE_WIDTH
                pads = [(width - len(a), width - len(b)) for a, b in specs]
            elif key != layout:
                break
            if record:
                s_row, f_row = [], []
                for c, (scalar_specs, flag_names), (s_pad, f_pad) in zip(calls, specs, pads):
                    get = c.scalars.get
                    sv = [float(get(name, default)) for name, default in scalar_specs]
                    sv += [0.0] * s_pad
                    fv = [1 if get(name, False) else 0 for name in flag_names] + [0] * f_pad
                    marker = (c.kernel, tuple(fv))
                    if marker not in checked:  # the buffers these flags need are there
                        c.run(kernels, check_only=True)
                        checked.add(marker)
                    s_row.append(sv)
                    f_row.append(fv)
                s_rows.append(s_row)
                f_rows.append(f_row)
                hess.append(hess_next)
                beta2.append(opt.hessian_call()[2] if self.sophia else 0.0)
                lrs.append(group["lr"])
            simple = r == 0 and self.step_sched is None and not self.sophia
            stationary = simple and not any(entries for c in calls
                                            for _, entries in c.updates)
            for c in calls:
                c.commit(opt.state)
            done += 1
            if simple and not stationary and count > 1:
                formulas = self._formulas(calls, specs)
                if formulas is not None:  # the native loop counts the steps itself
                    for i in range(len(self.params)):
                        opt.state[i]["step"] += count - 1
                    opt.note_step()
                    if not record:
                        return count, hess_next
                    self.formulas = formulas
                    done = count
                    break
            opt.note_step()  # what opt.step's scheduler wrapper records
            try:
                if self.step_sched is not None:
                    self.step_sched.step()
                if self.sophia:
                    hess_next = opt.hessian_due()
            except Exception as exc:  # raised after this step, as the Python loop would
                self.pending = exc
                break
            if stationary:  # the same calls for every step: plan once
                break
        if not record:
            return done, hess_next
        if stationary:
            done = count
        invocations = []
        for c_index, c in enumerate(first_calls):
            address = self.core.kernel_address(c.kernel, self.f32)
            lists = c.lists
            for t, p in enumerate(lists[0]):
                which = next(k for k, q in enumerate(self.params) if q is p)
                buffers = [None if lst is None else lst[t] for lst in lists]
                invocations.append((address, which, c_index, buffers))
        width = self.models_core.TABLE_WIDTH
        tables = (np.asarray(s_rows, dtype=np.float64).reshape(len(s_rows), -1, width),
                  np.asarray(f_rows, dtype=np.int32).reshape(len(f_rows), -1, width))
        return (done, invocations, *tables, np.asarray(hess, dtype=np.uint8),
                np.asarray(beta2, dtype=np.float64), lrs, hess_next)

    def _formulas(self, calls, specs):
        """For the first planned step just committed: the codes and beta positions with
        which the native loop computes each call's per-step scalars (see STEP_FORMULAS),
        and the step count of that step; None unless every call's kernel has formulas
        that give the plan's values, and the step committed nothing but step counts."""
        state = self.opt.state
        steps = {state[i].get("step") for i in range(len(self.params))}
        if len(steps) != 1:
            return None
        t = steps.pop()
        if not isinstance(t, int):
            return None
        width = self.models_core.TABLE_WIDTH
        codes = np.zeros((len(calls), width), dtype=np.int32)
        betas = np.zeros((len(calls), width), dtype=np.int32)
        for c_index, (c, (scalar_specs, _)) in enumerate(zip(calls, specs)):
            formulas = STEP_FORMULAS.get(c.kernel)
            if formulas is None or any(set(entries) != {"step"} for _, entries in c.updates):
                return None
            names = [name for name, _ in scalar_specs]
            for name, (beta, code) in formulas.items():
                k, b = names.index(name), names.index(beta)
                value = float(c.scalars[name])
                if step_formula(float(c.scalars[beta]), code, t) != value:
                    return None
                codes[c_index, k], betas[c_index, k] = code, b
        return codes, betas, t

    def _snapshot(self):
        state = self.opt.state
        return ([(i, {k: v for k, v in state[i].items() if not isinstance(v, np.ndarray)})
                 for i in range(len(self.params)) if i in state],
                self.group["lr"],
                None if self.step_sched is None else self.step_sched.state_dict())

    def _restore(self, snapshot):
        saved, lr, sched = snapshot
        for i, entries in saved:
            self.opt.state[i].update(entries)
        self.group["lr"] = lr
        if sched is not None:
            self.step_sched.load_state_dict(sched)

    def _zero_batches(self, order, bs, w):
        """Which batches of this epoch's order weigh nothing (fit skips them in Python)."""
        if self._zero_order is not order:
            sums = np.add.reduceat(w[order], np.arange(0, order.shape[0], bs))
            self._zero = np.flatnonzero(sums == 0)
            self._zero_order = order
        return self._zero

    # -- running ----------------------------------------------------------------------------

    def run(self, X, y, w, order, first, count, bs, backup, total, weights, hess_next):
        """Run batches from ``first`` on (at most ``count``) natively; return (batches
        done, total + loss * weight sums, weights + weight sums, status, the non-finite
        loss that stopped the run or None, lr of the last step done, gradient norm of the
        epoch's last batch if it was done (else NaN), hess_next after them).
        ``done == 0``: the next batch needs the Python path."""
        if w is not None:
            zeros = self._zero_batches(order, bs, w)
            k = np.searchsorted(zeros, first)
            if k < zeros.shape[0]:
                count = min(count, int(zeros[k]) - first)
        count = min(count, self.CHUNK)
        nothing = (0, total, weights, 0, None, None, math.nan, hess_next)
        if count <= 0:
            return nothing
        snapshot = self._snapshot()
        self.pending = None
        planned = self._plan_steps(count, hess_next)
        if planned is None:
            return nothing
        count, invocations, s_table, f_table, hess_rows, beta2, lrs, hess_after = planned
        n_batches = (order.shape[0] + bs - 1) // bs
        gc = self.grads[0]
        gi = self.grads[1] if len(self.grads) > 1 else None
        hessian = None
        if self.sophia:
            kernel, averages, _ = self.opt.hessian_call()
            hessian = (self.core.kernel_address(kernel, self.f32), averages, self.estimates,
                       beta2)
        done, total, weights, status, nonfinite, loss = self.models_core.fused_batches(
            self.kind, X, y, self.params[0], self.params[1] if len(self.params) > 1 else None,
            w, order, first, count, bs, self.a1, self.a2, self.eps, gc, gi, backup,
            invocations, s_table, f_table, self.clip_norm, self.clip_value, self.last,
            n_batches - 1, hessian, hess_rows, self.formulas, total, weights)
        if done < count:  # roll the bookkeeping back to the steps taken
            self._restore(snapshot)
            if done:
                hess_after = self._plan_steps(done, hess_next, record=False)[1]
            else:
                hess_after = hess_next
        if self.pending is not None and done == count:
            raise self.pending
        gnorm = math.nan
        if done and first + done == n_batches:
            gnorm = _norm(*self.last) if self.last is not None else _norm(gc, gi)
        return (done, total, weights, status, loss if nonfinite else None,
                lrs[min(done, len(lrs)) - 1] if done else None, gnorm, hess_after)



def _norm(a, b):
    s = float(np.dot(a.ravel(), a.ravel()))
    if b is not None:
        s += float(np.dot(b, b))
    return math.sqrt(s)

