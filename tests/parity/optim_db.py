"""The parity cases of every optimizer: test data, kept in the test tree as torch keeps
``optim_db`` (``torch/testing/_internal/common_optimizers.py``).

``OPTIM_DB[name]`` lists the option sets ("variants") each optimizer runs with: the parity
runs against torch and optax (``tests/parity/``), the cached step against the general path
(``tests/optim/test_cached_step.py``), every backend against the numpy bits
(``tests/test_properties.py``, ``tests/test_reliability_*.py``), ``fit`` with every optimizer,
buffers, threads and checkpoints. Adding an optimizer adds its entry here;
``tests/optim/test_registry.py`` fails for a registered optimizer without one."""

from __future__ import annotations

import math

import numpy as np

#: optimizer name (as in ``fastgd.optim.registry.OPTIMIZERS``) -> its option sets, each the
#: keyword arguments of one configuration of the class.
OPTIM_DB: dict[str, tuple[dict, ...]] = {
    "SGD": (
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.5, "maximize": True},
        {"lr": 0.05, "weight_decay": 0.1, "maximize": True},
    ),
    "Adam": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "amsgrad": True, "betas": (0.8, 0.9)},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True},
        {"lr": 0.01, "maximize": True, "eps": 0.001},
        {"lr": 0.01, "betas": (0.0, 0.5)},
    ),
    "AdamW": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.0, "maximize": True},
    ),
    "Adagrad": (
        {"lr": 0.1},
        {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
        {"lr": 0.1, "weight_decay": 0.05, "eps": 0.001, "maximize": True},
    ),
    "RMSprop": (
        {"lr": 0.01},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "centered": True, "alpha": 0.9},
        {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.01, "maximize": True, "alpha": 0.3, "centered": True},
    ),
    "Adadelta": (
        {"lr": 1.0},
        {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1},
        {"lr": 1.0, "eps": 0.001, "maximize": True},
        {"lr": 0.3, "rho": 1.0},
        {"lr": 0.3, "rho": 0.0, "weight_decay": 0.2, "maximize": True},
    ),
    "Adamax": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "betas": (0.5, 0.8), "maximize": True},
        {"lr": 0.01, "eps": 0.01},
        {"lr": 0.01, "betas": (0.0, 0.0), "weight_decay": 0.1},
    ),
    "NAdam": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "momentum_decay": 0.3, "betas": (0.8, 0.9)},
        {"lr": 0.01, "maximize": True, "eps": 0.001},
        {"lr": 0.01, "momentum_decay": 0.0, "betas": (0.0, 0.5)},
    ),
    "RAdam": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.05},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "betas": (0.8, 0.9), "maximize": True},
        {"lr": 0.01, "eps": 0.001, "betas": (0.5, 0.99)},
        {"lr": 0.01, "betas": (0.9, 0.5)},
    ),
    "Rprop": (
        {},
        {"lr": 0.05},
        {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (0.001, 0.2)},
        {"lr": 0.02, "maximize": True},
        {"lr": 0.05, "etas": (0.9, 1.01), "step_sizes": (0.0, math.inf)},
        {"lr": 0.05, "step_sizes": (0.04, 0.01)},
    ),
    "ASGD": (
        {},
        {"lr": 0.05},
        {"lr": 0.05, "t0": 10},
        {"lr": 0.05, "t0": 5, "lambd": 0.01, "alpha": 0.5, "weight_decay": 0.1},
        {"lr": 0.05, "t0": 20, "maximize": True},
        {"lr": 0.1, "lambd": 0.0, "t0": 0},
    ),
    "Adafactor": (
        {},
        {"lr": 0.05},
        {"lr": 0.5},
        {"lr": 0.05, "weight_decay": 0.1},
        {"lr": 0.05, "maximize": True},
        {"lr": 0.05, "beta2_decay": -1.0, "d": 1.5},
        {"lr": 0.05, "eps": (0.001, 0.1)},
        {"lr": 0.05, "eps": (1e-30, 0.001), "d": 10.0, "beta2_decay": -0.5},
    ),
    "Lion": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.5, 0.8), "weight_decay": 0.001, "maximize": True},
        {"lr": 0.01, "betas": (0.0, 0.0)},
    ),
    "AdaBelief": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-08, "eps_root": 0.0, "maximize": True},
        {"lr": 0.01, "eps": 0.001, "eps_root": 1e-06, "weight_decay": 0.01},
    ),
    "LAMB": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.5, 0.9), "eps": 0.001, "maximize": True},
        {"lr": 0.01, "weight_decay": 0.01, "maximize": True, "betas": (0.0, 0.5)},
    ),
    "LARS": (
        {"lr": 0.5},
        {"lr": 0.5, "momentum": 0.0, "weight_decay": 0.1},
        {"lr": 0.5, "momentum": 0.5, "nesterov": True, "weight_decay": 0.01,
         "trust_coefficient": 0.02},
        {"lr": 0.5, "eps": 0.001, "maximize": True, "trust_coefficient": 0.01},
    ),
    "Yogi": (
        {"lr": 0.05},
        {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-06, "maximize": True},
        {"lr": 0.05, "initial_accumulator_value": 0.5},
    ),
    "Sophia": (
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.0, "betas": (0.9, 0.95)},
        {"lr": 0.01, "maximize": True, "rho": 0.1},
        {"lr": 0.02, "betas": (0.0, 0.99), "update_interval": 3, "eps": 1e-12, "weight_decay": 0.3},
    ),
    "SGDScheduleFree": (
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05},
        {"lr": 0.1, "warmup_steps": 5, "weight_lr_power": 1.0},
        {"lr": 0.05, "maximize": True, "weight_lr_power": 0.0, "momentum": 0.98},
    ),
    "AdamWScheduleFree": (
        {"lr": 0.01},
        {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1},
        {"lr": 0.02, "warmup_steps": 8, "eps": 0.001},
        {"lr": 0.01, "maximize": True, "weight_lr_power": 1.0, "betas": (0.95, 0.99)},
    ),
    # Off the kernel table (OptimizerSpec.kernel_table False): tests/parity/test_muon.py
    "Muon": (
        {},
        {"lr": 0.02},
        {"lr": 0.02, "weight_decay": 0.2},
        {"lr": 0.02, "momentum": 0.8},
        {"lr": 0.02, "nesterov": False},
        {"lr": 0.02, "ns_steps": 6},
        {"lr": 0.02, "ns_coefficients": (3.4, -4.7, 2.0)},
        {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw", "eps": 1e-5},
        {"lr": 0.02, "adjust_lr_fn": "original", "ns_dtype": "float32"},
    ),
    # Off the kernel table: tests/parity/test_sparse_adam.py
    "SparseAdam": (
        {},
        {"lr": 0.01},
        {"lr": 0.04, "betas": (0.5, 0.8)},
        {"lr": 0.01, "eps": 0.001, "maximize": True},
        {"lr": 0.01, "betas": (0.0, 0.0)},
    ),
    # torch's optim_inputs_func_lbfgs (its 0-d Tensor lr is a 0-d array here), then the
    # history overflowing (history_size below the iterations), with and without the line
    # search; run by tests/parity/test_lbfgs.py (closure-driven, not by the step(grads) runs)
    "LBFGS": (
        {},
        {"lr": 0.01},
        {"lr": np.array(0.001)},
        {"tolerance_grad": 1e-6},
        {"line_search_fn": "strong_wolfe"},
        {"history_size": 3, "max_iter": 12},
        {"history_size": 2, "max_iter": 10, "line_search_fn": "strong_wolfe", "lr": 0.5},
    ),
    # Off the kernel table, block-quantized states: tests/optim/test_lowbit.py and
    # tests/parity/test_lowbit.py
    "Adam8bit": (
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.8, 0.9), "maximize": True, "block_size": 64},
        {"lr": 0.01, "eps": 1e-3, "min_quantized_size": 0, "block_size": 16},
    ),
    "AdamW8bit": (
        {},
        {"lr": 0.01, "weight_decay": 0.3},
        {"lr": 0.01, "weight_decay": 0.0, "maximize": True, "min_quantized_size": 0},
    ),
    "AdamW4bit": (
        {},
        {"lr": 0.01, "weight_decay": 0.3, "block_size": 64},
        {"lr": 0.01, "maximize": True, "min_quantized_size": 0, "block_size": 16},
    ),
    "Lion8bit": (
        {},
        {"lr": 0.001, "weight_decay": 0.1},
        {"lr": 0.001, "betas": (0.5, 0.9), "maximize": True, "min_quantized_size": 0},
    ),
}


def variants(name: str) -> tuple[dict, ...]:
    """The option sets of optimizer ``name``."""
    try:
        return OPTIM_DB[name]
    except KeyError:
        raise KeyError(f"{name} has no parity cases in tests/parity/optim_db.py") from None
