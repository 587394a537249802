"""The ``numba`` backend: the kernels of src/optim, compiled by Numba.

Used when the compiled core is missing, or on request. Each ``<kernel>_many`` here checks
its call (:func:`fastgd.backends._many.entry`), rounds every hyperparameter to the array's
dtype in Python and runs its loop of :mod:`.numba_optim_loops` on each tensor, flat; the
loops follow the C kernels operation for operation.
"""

from __future__ import annotations

import numpy as np

from fastgd.backends import numba_optim_loops as loops
from fastgd.backends._many import entry
from fastgd.backends.numba_lbfgs import (  # noqa: F401  (this backend's L-BFGS operations)
    lbfgs_abs_max,
    lbfgs_abs_sum,
    lbfgs_axpy,
    lbfgs_dot,
    lbfgs_memory,
    lbfgs_two_loop,
)
from fastgd.backends.numba_lowbit import lowbit_step  # noqa: F401  (the low-bit step)
from fastgd.reference import lowp
from fastgd.reference._checks import dims, scanned_arrays
from fastgd.reference._common import trust_ratio
from fastgd.reference.sparse_adam import check_rows

NAME = "numba"


def _flat(lists, t):
    """Tensor t of each list as a flat view; an absent buffer becomes an unused stand-in."""
    param = lists[0][t].reshape(-1)
    return [param if lst is None or lst[t] is None else lst[t].reshape(-1) for lst in lists]


@entry("sgd")
def sgd_many(params, grads, momentum_buffers, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    lists = (params, grads, momentum_buffers)
    for t in range(len(params)):
        p, g, buf = _flat(lists, t)
        T = p.dtype.type
        loops.sgd(p, g, buf, T(-lr), T(momentum), T(1.0 - dampening), T(weight_decay),
                  weight_decay != 0.0, maximize, nesterov, momentum != 0.0, first_step)


@entry("adam")
def adam_many(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1, beta2,
              eps, weight_decay=0.0, bias_correction1, bias_correction2_sqrt, amsgrad=False,
              decoupled_weight_decay=False, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    neg_step_size = -(np.float64(lr) / bias_correction1)
    for t in range(len(params)):
        p, g, m, v, vmax = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        loops.adam(p, g, m, v, vmax, w1, T(1) - w1, T(beta2), T(1.0 - beta2),
                   T(bias_correction2_sqrt), T(eps), T(neg_step_size), T(weight_decay),
                   T(1.0 - lr * weight_decay), weight_decay != 0.0 and not decoupled_weight_decay,
                   weight_decay != 0.0 and decoupled_weight_decay, maximize, amsgrad)


@entry("adam_eps_root")
def adam_eps_root_many(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, lr, beta1,
                       beta2, eps, eps_root=0.0, weight_decay=0.0, bias_correction1,
                       bias_correction2, amsgrad=False, decoupled_weight_decay=False,
                       maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v, vmax = _flat(lists, t)
        T = p.dtype.type
        loops.adam_eps_root(p, g, m, v, vmax, T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
                            T(bias_correction1), T(bias_correction2), T(eps), T(eps_root), T(-lr),
                            T(weight_decay), weight_decay != 0.0 and not decoupled_weight_decay,
                            weight_decay != 0.0 and decoupled_weight_decay, maximize, amsgrad)


@entry("adagrad")
def adagrad_many(params, grads, state_sums, *, clr, eps, weight_decay=0.0, maximize=False):
    lists = (params, grads, state_sums)
    for t in range(len(params)):
        p, g, s = _flat(lists, t)
        T = p.dtype.type
        loops.adagrad(p, g, s, T(-clr), T(eps), T(weight_decay), weight_decay != 0.0, maximize)


@entry("rmsprop")
def rmsprop_many(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr, alpha, eps,
                 weight_decay=0.0, momentum=0.0, centered=False, maximize=False,
                 eps_in_sqrt=False):
    lists = (params, grads, square_avgs, grad_avgs, momentum_buffers)
    for t in range(len(params)):
        p, g, sq, gavg, buf = _flat(lists, t)
        T = p.dtype.type
        one_minus_a = T(1.0 - alpha)
        loops.rmsprop(p, g, sq, gavg, buf, T(-lr), T(alpha), one_minus_a, T(1) - one_minus_a,
                      T(eps), T(momentum), T(weight_decay), weight_decay != 0.0, maximize,
                      centered, momentum > 0.0, eps_in_sqrt)


@entry("adadelta")
def adadelta_many(params, grads, square_avgs, acc_deltas, *, lr, rho, eps, weight_decay=0.0,
                  maximize=False):
    lists = (params, grads, square_avgs, acc_deltas)
    for t in range(len(params)):
        p, g, sq, acc = _flat(lists, t)
        T = p.dtype.type
        loops.adadelta(p, g, sq, acc, T(-lr), T(rho), T(1.0 - rho), T(eps), T(weight_decay),
                       weight_decay != 0.0, maximize)


@entry("adamax")
def adamax_many(params, grads, exp_avgs, exp_infs, *, lr, beta1, beta2, eps, weight_decay=0.0,
                bias_correction1, maximize=False):
    lists = (params, grads, exp_avgs, exp_infs)
    neg_clr = -(np.float64(lr) / bias_correction1)
    for t in range(len(params)):
        p, g, m, u = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        loops.adamax(p, g, m, u, w1, T(1) - w1, T(beta2), T(eps), T(neg_clr), T(weight_decay),
                     weight_decay != 0.0, maximize)


@entry("nadam")
def nadam_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps,
               weight_decay=0.0, bias_correction2, mu, mu_next, mu_product,
               decoupled_weight_decay=False, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    neg_lr = -np.float64(lr)  # NumPy floats: a zero denominator gives inf, as in C
    grad_coef = neg_lr * (1.0 - mu) / (1.0 - np.float64(mu_product))
    avg_coef = neg_lr * mu_next / (1.0 - np.float64(mu_product) * mu_next)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        loops.nadam(p, g, m, v, w1, T(1) - w1, T(beta2), T(1.0 - beta2), T(bias_correction2),
                    T(eps), T(grad_coef), T(avg_coef), T(weight_decay),
                    T(1.0 - lr * weight_decay), weight_decay != 0.0 and not decoupled_weight_decay,
                    weight_decay != 0.0 and decoupled_weight_decay, maximize)


@entry("radam")
def radam_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps,
               weight_decay=0.0, bias_correction1, bias_correction2_sqrt, rectification,
               rectified=False, decoupled_weight_decay=False, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        w1 = T(1.0 - beta1)
        loops.radam(p, g, m, v, w1, T(1) - w1, T(beta2), T(1.0 - beta2), T(bias_correction1),
                    T(bias_correction2_sqrt), T(eps), T(lr), T(rectification), T(weight_decay),
                    T(1.0 - lr * weight_decay), T(1),
                    weight_decay != 0.0 and not decoupled_weight_decay,
                    weight_decay != 0.0 and decoupled_weight_decay, maximize, rectified)


@entry("rprop")
def rprop_many(params, grads, prevs, step_sizes, *, etaminus, etaplus, step_size_min,
               step_size_max, maximize=False):
    lists = (params, grads, prevs, step_sizes)
    for t in range(len(params)):
        p, g, prev, ss = _flat(lists, t)
        T = p.dtype.type
        loops.rprop(p, g, prev, ss, T(etaminus), T(etaplus), T(step_size_min), T(step_size_max),
                    T(0), T(1), maximize)


@entry("asgd")
def asgd_many(params, grads, axs, *, eta, lambd, mu, weight_decay=0.0, maximize=False):
    lists = (params, grads, axs)
    for t in range(len(params)):
        p, g, ax = _flat(lists, t)
        T = p.dtype.type
        loops.asgd(p, g, ax, T(-eta), T(1.0 - lambd * eta), T(weight_decay), T(mu),
                   weight_decay != 0.0, maximize, mu != 1.0)


@entry("adafactor")
def adafactor_many(params, grads, row_vars, col_vars, variances, *, lr, rho, one_minus_beta2,
                   eps1, eps2=1e-3, d=1.0, weight_decay=0.0, factored=False, maximize=False):
    lists = (params, grads, row_vars, col_vars, variances)
    for t in range(len(params)):
        batches, rows, cols = dims(params[t].shape)
        p, g, rv, cv, var = _flat(lists, t)
        T = p.dtype.type
        w = T(one_minus_beta2)
        loops.adafactor(p, g, rv, cv, var, batches, rows, cols, T(rows), T(cols), w, T(1) - w,
                        T(eps1), T(eps1 * eps1), T(1.0 - lr * weight_decay), T(1), rho, eps2, d,
                        weight_decay != 0.0, factored, maximize)


@entry("lion")
def lion_many(params, grads, exp_avgs, *, lr, beta1, beta2, weight_decay=0.0, maximize=False):
    lists = (params, grads, exp_avgs)
    for t in range(len(params)):
        p, g, m = _flat(lists, t)
        T = p.dtype.type
        loops.lion(p, g, m, T(-lr), T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
                   T(1.0 - lr * weight_decay), weight_decay != 0.0, maximize, T(1))


@entry("adabelief")
def adabelief_many(params, grads, exp_avgs, exp_avg_vars, *, lr, beta1, beta2, eps, eps_root,
                   weight_decay=0.0, bias_correction1, bias_correction2, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_vars)
    for t in range(len(params)):
        p, g, m, s = _flat(lists, t)
        T = p.dtype.type
        loops.adabelief(p, g, m, s, T(-lr), T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
                        T(eps), T(eps_root), T(bias_correction1), T(bias_correction2),
                        T(1.0 - lr * weight_decay), weight_decay != 0.0, maximize)


@entry("lamb")
def lamb_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps, weight_decay=0.0,
              bias_correction1, bias_correction2, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        bc1, bc2, e, wd = T(bias_correction1), T(bias_correction2), T(eps), T(weight_decay)
        use_wd = weight_decay != 0.0
        sp, su = loops.lamb_moments(p, g, m, v, T(beta1), T(1.0 - beta1), T(beta2),
                                    T(1.0 - beta2), bc1, bc2, e, wd, use_wd, maximize)
        ratio = T(trust_ratio(sp, su, 1.0, 0.0))
        loops.lamb_apply(p, m, v, T(-lr), ratio, bc1, bc2, e, wd, use_wd)


@entry("lars")
def lars_many(params, grads, momentum_buffers, *, lr, momentum=0.0, weight_decay=0.0,
              trust_coefficient, eps=0.0, nesterov=False, maximize=False):
    lists = (params, grads, momentum_buffers)
    for t in range(len(params)):
        p, g, buf = _flat(lists, t)
        T = p.dtype.type
        wd, use_wd = T(weight_decay), weight_decay != 0.0
        sp, su = loops.lars_sums(p, g, wd, use_wd, maximize)
        ratio = T(trust_ratio(sp, su, trust_coefficient, eps))
        loops.lars(p, g, buf, T(lr), ratio, T(momentum), wd, use_wd, maximize, nesterov,
                   momentum != 0.0)


@entry("yogi")
def yogi_many(params, grads, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2, eps, bias_correction1,
              bias_correction2, maximize=False):
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    for t in range(len(params)):
        p, g, m, v = _flat(lists, t)
        T = p.dtype.type
        loops.yogi(p, g, m, v, T(-lr), T(beta1), T(1.0 - beta1), T(1.0 - beta2), T(eps),
                   T(bias_correction1), T(bias_correction2), maximize, T(1))


@entry("sophia")
def sophia_many(params, grads, exp_avgs, hessians, *, lr, beta1, rho, eps, weight_decay=0.0,
                maximize=False):
    lists = (params, grads, exp_avgs, hessians)
    for t in range(len(params)):
        p, g, m, h = _flat(lists, t)
        T = p.dtype.type
        loops.sophia(p, g, m, h, T(-lr), T(beta1), T(1.0 - beta1), T(rho), T(eps),
                     T(1.0 - lr * weight_decay), T(1), T(0), weight_decay != 0.0, maximize)


@entry("sophia_hessian")
def sophia_hessian_many(hessians, estimates, *, beta2):
    lists = (hessians, estimates)
    for t in range(len(hessians)):
        h, e = _flat(lists, t)
        T = h.dtype.type
        loops.sophia_hessian(h, e, T(beta2), T(1.0 - beta2))


@entry("sgd_schedule_free")
def sgd_schedule_free_many(params, grads, zs, *, lr, momentum, weight_decay=0.0, ckp1,
                           maximize=False):
    lists = (params, grads, zs)
    y_coef = lr * (momentum * (1.0 - ckp1) - 1.0)
    for t in range(len(params)):
        p, g, z = _flat(lists, t)
        T = p.dtype.type
        c = T(ckp1)
        loops.sgd_schedule_free(p, g, z, c, T(1) - c, T(y_coef), T(lr), T(weight_decay),
                                weight_decay != 0.0, maximize)


@entry("adamw_schedule_free")
def adamw_schedule_free_many(params, grads, zs, exp_avg_sqs, *, lr, beta1, beta2, eps,
                             weight_decay=0.0, ckp1, bias_correction2, maximize=False):
    lists = (params, grads, zs, exp_avg_sqs)
    y_coef = lr * (beta1 * (1.0 - ckp1) - 1.0)
    for t in range(len(params)):
        p, g, z, v = _flat(lists, t)
        T = p.dtype.type
        c = T(ckp1)
        loops.adamw_schedule_free(p, g, z, v, T(beta2), T(1.0 - beta2), T(bias_correction2),
                                  T(eps), c, T(1) - c, T(y_coef), T(lr), T(weight_decay),
                                  weight_decay != 0.0, maximize)


def sparse_adam_rows(param, exp_avg, exp_avg_sq, indices, rows, *, one_minus_beta1,
                     one_minus_beta2, eps, neg_step_size, maximize=False, check_only=False):
    """SparseAdam's row update (fastgd.reference.sparse_adam.sparse_adam_rows), checked
    first, then the jitted loop with the scalars rounded to the arrays' dtype."""
    check_rows(param, exp_avg, exp_avg_sq, indices, rows)
    if check_only or indices.size == 0:
        return
    T = param.dtype.type
    loops.sparse_adam_rows(param, exp_avg, exp_avg_sq, indices, rows, T(one_minus_beta1),
                           T(one_minus_beta2), T(eps), T(neg_step_size), bool(maximize))


def first_nonfinite(arrays) -> int:
    """The position in ``arrays`` of the first array holding a NaN or an infinity, or -1
    when every element of every array is finite."""
    for k, a in enumerate(scanned_arrays(arrays)):
        if a.size and loops.any_nonfinite(a.ravel(order="K")):
            return k
    return -1


def lowp_widen(src, out) -> None:
    """:func:`fastgd.reference.lowp.widen` by a jitted loop (float16 by NumPy's
    conversion), checked."""
    if not lowp.check_conversion("widen", src, out):
        lowp.widen(src, out)
        return
    loops.bf16_widen(src.reshape(-1).view(np.uint16), out.reshape(-1).view(np.uint32))


def lowp_narrow(src, out, key=-1) -> None:
    """:func:`fastgd.reference.lowp.narrow` by a jitted loop (float16 by NumPy's
    conversion), checked."""
    if not lowp.check_conversion("narrow", src, out, key):
        lowp.narrow(src, out, int(key))
        return
    loops.bf16_narrow(src.reshape(-1).view(np.uint32), out.reshape(-1).view(np.uint16),
                      int(key))
