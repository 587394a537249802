"""The registry is complete and consistent: every row has its class, kernels and docs."""

from __future__ import annotations

import importlib.util
import inspect
import pathlib
import types

import numpy as np
import pytest
from parity.optim_db import OPTIM_DB

import fastgd
from fastgd import backends, kernels, reference
from fastgd.optim import registry
from fastgd.reference._declare import KERNELS, ROLES


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_every_row_has_a_class_and_kernels(name):
    spec = registry.get(name)
    cls = getattr(fastgd, name)
    assert cls.spec is spec and issubclass(cls, fastgd.Optimizer)
    assert callable(getattr(reference, spec.kernel))
    if spec.kernel_table:
        assert spec.kernel in ROLES and callable(getattr(kernels, spec.kernel))
    else:  # its own native calls, in every backend; nothing of it in the kernel table
        assert spec.kernel not in ROLES and name not in registry.TABLE_OPTIMIZERS
    if spec.closure:  # step(closure): the flat vector's state, kept once
        assert spec.global_state and not spec.kernel_table
    functions = [f"{spec.kernel}_many"] if spec.kernel_table else list(spec.step_functions)
    for backend in backends.available():
        for function in functions:
            assert callable(getattr(backends.load(backend), function))
    params = set(inspect.signature(cls).parameters) - {"params"}
    rounding = {"stochastic_rounding", "seed"} if spec.kernel_table else set()  # 16-bit params
    assert params == {h.name for h in spec.hyperparameters if h.argument} | rounding


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_rows_are_well_formed(name):
    spec = registry.get(name)
    names = [h.name for h in spec.hyperparameters]
    assert len(names) == len(set(names)) and names[0] == "lr"
    assert OPTIM_DB[name] and all(set(v) <= set(names) for v in OPTIM_DB[name])
    for variant in OPTIM_DB[name]:
        # every variant is valid (float32: the dtype every optimizer takes)
        getattr(fastgd, name)([np.zeros((2, 2), np.float32)], **variant)
    for buf in spec.state:
        assert buf.fill is None or buf.fill in names
    assert spec.summary and spec.matches.startswith(("torch.optim.", "optax.", "paper: ")) and \
        reference.__dict__[spec.kernel].__doc__


def test_unknown_name():
    with pytest.raises(KeyError, match="no optimizer named 'Adamm'"):
        registry.get("Adamm")


# -- "Adding an optimizer" (docs/guide): every registered optimizer has all its parts -------

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _kernel_cases():
    """``KERNEL_CASES`` of tests/backends/test_parity.py (loaded by path: test modules are not
    a package under ``--import-mode=importlib``)."""
    path = ROOT / "tests" / "backends" / "test_parity.py"
    spec = importlib.util.spec_from_file_location("_fastgd_test_parity_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.KERNEL_CASES


def _loadable_backends():
    """name -> module of every backend that loads here (the others are skipped)."""
    loaded = {}
    for name in backends.BACKENDS:
        try:
            loaded[name] = backends.load(name)
        except ImportError:
            continue
    return loaded


def _rule_module(name):
    """The module of ``fastgd/optim/`` (one of registry.RULES) that defines class ``name``."""
    cls = getattr(fastgd, name, None)
    for module in registry.RULES:
        if cls is not None and getattr(module, name, None) is cls:
            return module
    return None


def _missing_parts(name, kernel_cases, loaded, readme):
    """What optimizer ``name`` lacks of the parts "Adding an optimizer" lists (empty: none)."""
    spec = registry.get(name)
    kernel = spec.kernel
    missing = []
    if not spec.kernel_table:  # its own native calls (spec.step_functions), no table entry
        missing += _missing_off_table_parts(spec, loaded)
    elif kernel not in KERNELS:
        missing.append(f"kernel {kernel!r} is not declared in fastgd.reference._declare.KERNELS")
    elif KERNELS[kernel].public and kernel not in kernel_cases:
        missing.append(f"KERNEL_CASES[{kernel!r}] in tests/backends/test_parity.py")
    if not callable(getattr(reference, kernel, None)):
        missing.append(f"the reference function fastgd.reference.{kernel}")
    for backend, module in loaded.items():
        for function in ([f"{kernel}_many"] if spec.kernel_table else []):
            if not callable(getattr(module, function, None)):
                missing.append(f"{function} in backend {backend!r} ({module.__name__})")
    if "cython" in loaded and spec.kernel_table:
        try:
            loaded["cython"].kernel_address(kernel, False)
        except KeyError:
            missing.append(f"{kernel!r} in the compiled core's kernel list (src/optim/kernels.h)")
    cls = getattr(fastgd, name, None)
    if cls is None:
        missing.append(f"the class fastgd.{name}")
    elif ".. math::" not in (cls.__doc__ or ""):
        missing.append(f"a '.. math::' block in the docstring of fastgd.{name}")
    module = _rule_module(name)
    if module is None:
        missing.append(f"a module of fastgd.optim.registry.RULES that defines {name}")
    else:
        rule = pathlib.Path(module.__file__).stem
        for path in (f"fastgd/optim/{rule}.py", f"fastgd/reference/{rule}.py"):
            if not (ROOT / path).is_file():
                missing.append(f"the file {path}")
    if not OPTIM_DB.get(name):
        missing.append(f"parity cases OPTIM_DB[{name!r}] in tests/parity/optim_db.py")
    if f"| `{name}` |" not in readme:
        missing.append(f"a row for `{name}` in the README's optimizer table")
    return missing


def _missing_off_table_parts(spec, loaded):
    """The parts of an optimizer off the kernel table (``spec.kernel_table`` False: Muon,
    SparseAdam, L-BFGS): each of its ``step_functions`` specified in
    ``fastgd/reference/<rule>.py`` and present in every loadable backend, the C header
    ``src/optim/<rule>.h`` where the compiled core has one of them, and first steps by
    hand in ``tests/reference/test_<rule>.py`` (no per-element kernel, so no KERNEL_CASES)."""
    missing = []
    module = _rule_module(spec.name)
    rule = pathlib.Path(module.__file__).stem if module is not None else spec.name.lower()
    spec_module = importlib.import_module(f"fastgd.reference.{rule}")
    for op in spec.step_functions:
        if not callable(getattr(spec_module, op, None)):
            missing.append(f"the reference function fastgd.reference.{rule}.{op}")
        for backend, backend_module in loaded.items():
            if not callable(getattr(backend_module, op, None)):
                missing.append(f"{op} in backend {backend!r} ({backend_module.__name__})")
    compiled = "cython" in loaded and any(hasattr(loaded["cython"], op)
                                           for op in spec.step_functions)
    paths = [f"tests/reference/test_{rule}.py"] + ([f"src/optim/{rule}.h"] if compiled else [])
    for path in paths:
        if not (ROOT / path).is_file():
            missing.append(f"the file {path}")
    return missing


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_every_optimizer_has_every_part(name):
    """docs/guide/adding-an-optimizer.md: the reference, its declaration, each backend's kernel,
    the compiled core's, the class docstring's formula, the rule's files, parity cases, the
    README row and the kernel's cases."""
    readme = (ROOT / "README.md").read_text()
    missing = _missing_parts(name, _KERNEL_CASES, _LOADED, readme)
    assert not missing, f"{name} lacks: " + "; ".join(missing)


def test_every_public_kernel_has_its_parts():
    """Every public kernel (a rule's variants too: adam_eps_root, ...) has a reference, a
    ``_many`` in every loadable backend, an entry in the compiled core, and KERNEL_CASES."""
    missing = []
    for kernel, decl in KERNELS.items():
        if not decl.public:
            continue
        if kernel not in _KERNEL_CASES:
            missing.append(f"KERNEL_CASES[{kernel!r}]")
        if not callable(getattr(reference, kernel, None)):
            missing.append(f"fastgd.reference.{kernel}")
        for backend, module in _LOADED.items():
            if not callable(getattr(module, f"{kernel}_many", None)):
                missing.append(f"{kernel}_many in backend {backend!r}")
    assert not missing, "missing: " + "; ".join(missing)


def test_the_completeness_check_names_what_is_missing():
    """The check above fails, naming the part, for a rule without it."""
    readme = (ROOT / "README.md").read_text()
    name = next(iter(registry.OPTIMIZERS))
    kernel = registry.get(name).kernel
    cases = {k: v for k, v in _KERNEL_CASES.items() if k != kernel}
    missing = _missing_parts(name, cases, _LOADED, readme.replace(f"| `{name}` |", "|"))
    assert any("KERNEL_CASES" in m for m in missing), missing
    assert any("README" in m for m in missing), missing
    # a rule off the kernel table: a backend without one of its step functions
    closure = next(n for n, spec in registry.OPTIMIZERS.items() if spec.step_functions)
    op = registry.get(closure).step_functions[0]
    without = {b: types.SimpleNamespace(**{k: v for k, v in vars(m).items() if k != op})
               for b, m in _LOADED.items()}
    missing = _missing_parts(closure, _KERNEL_CASES, without, readme)
    assert any(op in m and "backend" in m for m in missing), missing


_KERNEL_CASES = _kernel_cases()
_LOADED = _loadable_backends()
