"""Every public name documents itself with an example, and the examples run.

The public names: ``fastgd.__all__`` (modules and constants aside) and the public names of
:mod:`fastgd.lr_scheduler`, :mod:`fastgd.models`, :mod:`fastgd.functions`,
:mod:`fastgd.optim.hessian`, :mod:`fastgd.reference` and :mod:`fastgd.sklearn`. An example is an
``Example::`` block (run with ``exec``, ``numpy as np`` and ``fastgd`` imported) or
doctest lines (run with :mod:`doctest`).
"""

from __future__ import annotations

import doctest
import inspect
import textwrap
import types

import numpy as np
import pytest

import fastgd
from fastgd import functions, lr_scheduler, models, reference
from fastgd.optim import hessian, registry
from fastgd.optim.spec import class_doc, update_rule

pytest.importorskip("sklearn")
from fastgd import sklearn as fastgd_sklearn  # noqa: E402

MODULES = (lr_scheduler, models, functions, hessian, reference, fastgd_sklearn)

#: Public names whose docstrings have no example yet; the test below fails once one has
#: one, so that the entry is removed.
NO_EXAMPLE_YET: frozenset[str] = frozenset()


def _public(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, o in vars(module).items()
                 if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__]
    return list(names)


def _public_objects() -> dict[str, object]:
    found = {}
    for name in fastgd.__all__:
        obj = getattr(fastgd, name)
        if callable(obj) and not isinstance(obj, types.ModuleType):
            found[f"fastgd.{name}"] = obj
    for module in MODULES:
        for name in _public(module):
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, types.ModuleType):
                found[f"{module.__name__}.{name}"] = obj
    return found


PUBLIC = _public_objects()


def example_block(doc: str) -> str | None:
    """The code of the ``Example::`` block of ``doc`` (dedented), or None."""
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Example::"]
    if not starts:
        return None
    start = starts[0]
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip("\n") or None


def run_example(doc: str, name: str) -> None:
    code = example_block(doc)
    assert code, f"{name}: no Example:: block"
    namespace = {"np": np, "fastgd": fastgd}
    if code.lstrip().startswith(">>>"):
        parser = doctest.DocTestParser()
        test = parser.get_doctest(code, namespace, name, None, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS
                                       | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"{name}: {runner.failures} doctest failure(s)"
    else:
        exec(compile(code, f"<example of {name}>", "exec"), namespace)


def test_the_public_names_are_found():
    assert "fastgd.Adam" in PUBLIC and "fastgd.reference.adam" in PUBLIC
    assert "fastgd.lr_scheduler.StepLR" in PUBLIC and "fastgd.sklearn.GDRegressor" in PUBLIC
    assert NO_EXAMPLE_YET <= set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(PUBLIC[name])
    assert doc and len(doc.split()) >= 5, f"{name} has no docstring"
    has_example = example_block(doc) is not None or ">>>" in doc
    if name in NO_EXAMPLE_YET:
        assert not has_example, f"{name} has an example now: remove it from NO_EXAMPLE_YET"
    else:
        assert has_example, f"{name}'s docstring has no Example:: block"


def test_example_block_finds_the_indented_code_only():
    doc = "Summary.\n\n    Example::\n\n        x = 1\n        y = x + 1\n\n    After."
    assert example_block(doc) == "x = 1\ny = x + 1"
    assert example_block("No example here.") is None
    with pytest.raises(ZeroDivisionError):
        run_example("S.\n\nExample::\n\n    1 / 0\n", "broken")


@pytest.mark.parametrize("name", sorted(registry.OPTIMIZERS))
def test_optimizer_class_doc_has_the_update_rule_and_a_running_example(name):
    spec = registry.OPTIMIZERS[name]
    doc = class_doc(spec)
    rule = update_rule(spec)
    assert rule.startswith(".. math::") and len(rule.splitlines()) >= 2
    assert rule in doc and spec.matches.removeprefix("paper: ") in doc
    for h in spec.hyperparameters:
        if h.argument:
            assert f"    {h.name}: " in doc and f"(default {h.default!r})" in doc
    before = fastgd.backend()
    run_example(doc, name)
    run_example(getattr(fastgd, name).__doc__, name)
    assert fastgd.backend() == before


def test_optimizer_class_example_changes_the_parameter():
    doc = class_doc(registry.OPTIMIZERS["SGD"])
    namespace = {"np": np, "fastgd": fastgd}
    exec(example_block(doc), namespace)
    # three steps of w <- w - lr * 2w from [1, -2, 0.5]
    expected = np.array([1.0, -2.0, 0.5]) * (1 - 2 * registry.OPTIMIZERS["SGD"].defaults["lr"])**3
    np.testing.assert_allclose(namespace["w"], expected, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(n for n in PUBLIC if n not in NO_EXAMPLE_YET
                                        and n.removeprefix("fastgd.") not in registry.OPTIMIZERS))
def test_example_runs(name):
    before = fastgd.backend(), fastgd.get_num_threads()
    run_example(inspect.getdoc(PUBLIC[name]), name)
    assert (fastgd.backend(), fastgd.get_num_threads()) == before
