"""Every public name documents itself with an example, and the examples run.

The public names: ``fastgd.__all__`` (modules and constants aside) and the public names of
:mod:`fastgd.lr_scheduler`, :mod:`fastgd.models`, :mod:`fastgd.functions`,
:mod:`fastgd.optim.hessian`, :mod:`fastgd.reference` and :mod:`fastgd.sklearn`. An example is an
``Example::`` block (run with ``exec``, ``numpy as np`` and ``fastgd`` imported) or
doctest lines (run with :mod:`doctest`).
"""

from __future__ import annotations

import ast
import doctest
import importlib
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


# -- the documentation site (docs/): every public name has an API page -------------------

def _docs_module(relative: str, name: str) -> types.ModuleType:
    """A module of the documentation's sources, imported from its file (no Sphinx needed)."""
    import importlib.util
    import pathlib
    import sys

    path = pathlib.Path(__file__).resolve().parent.parent / relative
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def api_reference():
    api = _docs_module("docs/_ext/fastgd_api.py", "fastgd_api")
    ref = api.collect()
    pages = api.pages(ref)
    documented = {}
    for rows in ref.entries.values():
        for entry in rows:
            if entry.owns_page:
                obj = getattr(importlib.import_module(entry.module), entry.name)
                documented[id(obj)] = entry.full
    return api, ref, pages, documented


def test_every_public_name_has_an_api_page(api_reference):
    api, ref, pages, documented = api_reference
    names = dict(PUBLIC)
    names.update({f"fastgd.{n}": getattr(fastgd, n) for n in fastgd.__all__
                  if n != "__version__" and not isinstance(getattr(fastgd, n), types.ModuleType)})
    missing = sorted(n for n, obj in names.items() if id(obj) not in documented
                     and not any(e.full == n for rows in ref.entries.values() for e in rows))
    assert not missing, f"no API page: {missing}"
    for obj in names.values():
        if id(obj) in documented:
            assert f"api/generated/{documented[id(obj)]}.rst" in pages
    # one page per object: fastgd.Adam, and fastgd.optim's table links to it
    assert documented[id(fastgd.Adam)] == "fastgd.Adam"
    assert "api/generated/fastgd.optim.Adam.rst" not in pages
    assert "~fastgd.Adam" in pages["api/generated/fastgd.optim.rst"]
    assert ref.aliases["fastgd.optim.Adam"] == "fastgd.Adam"
    assert ref.aliases["fastgd.models.training.fit"] == "fastgd.fit"
    adam = pages["api/generated/fastgd.Adam.rst"]
    assert ".. autoclass:: Adam" in adam and ":members: " in adam and "step" in adam


def test_every_public_module_is_in_the_reference(api_reference):
    """A module with ``__all__`` is a page of the reference, or each of its names is
    documented elsewhere, or it is listed in NOT_IN_REFERENCE with the reason."""
    import pkgutil

    api, ref, pages, documented = api_reference
    left_out = []
    for info in pkgutil.walk_packages(fastgd.__path__, "fastgd."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        module = importlib.import_module(info.name)
        if not hasattr(module, "__all__") or info.name in ref.modules \
                or info.name in api.NOT_IN_REFERENCE:
            continue
        undocumented = [n for n in api.public_names(module)
                        if not isinstance(getattr(module, n), types.ModuleType)
                        and id(getattr(module, n)) not in documented]
        if undocumented:
            left_out.append(f"{info.name}: {undocumented}")
    assert not left_out, "add these modules to MODULES in docs/_ext/fastgd_api.py: " \
        + "; ".join(left_out)
    assert set(api.NOT_IN_REFERENCE).isdisjoint(ref.modules)
    for module in ref.modules:
        assert f"api/generated/{module}.rst" in pages
        assert f"generated/{module}\n" in pages["_generated/api_toc.md"]


def test_optional_modules_get_pages_only_when_present(api_reference, monkeypatch):
    api = api_reference[0]
    monkeypatch.setattr(api, "MODULES", ["fastgd", "fastgd.kernels", "fastgd.not_a_module"])
    monkeypatch.setattr(api, "OPTIONAL", {"fastgd.kernels", "fastgd.not_a_module"})
    assert api.present_modules() == ["fastgd", "fastgd.kernels"]


def test_class_members_are_fastgds_own():
    api = _docs_module("docs/_ext/fastgd_api.py", "fastgd_api")
    members = api.class_members(fastgd.Sophia)
    assert {"step", "state_dict", "load_state_dict", "update_hessian", "hessian_due"} \
        <= set(members)
    estimator = api.class_members(fastgd_sklearn.GDRegressor)
    assert {"fit", "partial_fit", "predict"} <= set(estimator)
    # scikit-learn's available_if wraps the classifier's own predict_proba: kept
    assert "predict_proba" in api.class_members(fastgd_sklearn.GDClassifier)
    assert not any(m.startswith("set_") and m.endswith("_request") for m in estimator)
    assert "get_params" not in estimator  # scikit-learn's BaseEstimator's


def test_internal_link_checker_finds_missing_files_and_anchors(tmp_path):
    check = _docs_module("tools/check_links.py", "check_links")
    (tmp_path / "index.html").write_text(
        '<a href="a.html#here">ok</a><a href="a.html#gone">anchor</a>'
        '<a href="b.html">file</a><a href="https://example.org/x">external</a>'
        '<img src="img/p.png"><a href="#top">self</a><p id="top"></p>')
    (tmp_path / "a.html").write_text('<h1 id="here">A</h1>')
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "p.png").write_bytes(b"")
    broken = check.broken_links(tmp_path)
    assert broken == ["index.html: a.html#gone (no such anchor)",
                      "index.html: b.html (no such file)"]
    assert check.main([str(tmp_path)]) == 1
    (tmp_path / "index.html").write_text('<a href="a.html#here">ok</a>')
    assert check.main([str(tmp_path)]) == 0


def test_gallery_examples_have_a_title():
    """sphinx-gallery takes each example's title from its docstring's underlined line."""
    import pathlib

    examples = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples")
                      .glob("plot_*.py"))
    assert len(examples) >= 10
    for path in examples:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{path.name}: no docstring"
        title, underline = doc.strip().splitlines()[:2]
        assert set(underline) == {"="} and len(underline) >= len(title), path.name


def test_an_optional_module_without_its_package(api_reference, monkeypatch, tmp_path):
    """An optional module whose third-party package is not installed is documented with
    the package mocked when Sphinx is there (the documentation build), and left out
    otherwise; a missing package of a module that is not optional is an error."""
    api = api_reference[0]
    package = tmp_path / "fakegd"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package."""\n__all__ = ["one"]\n\n'
                                         'def one():\n    """One."""\n')
    (package / "extra.py").write_text('"""Needs a package that is not installed."""\n'
                                      "import not_installed_xyz\n\n__all__ = ['two']\n\n"
                                      'def two():\n    """Two."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(api, "OPTIONAL_IMPORTS", ["not_installed_xyz"])
    monkeypatch.setattr(api, "OPTIONAL", {"fakegd.extra"})
    try:
        from sphinx.ext.autodoc.mock import mock  # noqa: F401
        with_sphinx = True
    except ImportError:
        with_sphinx = False
    ref = api.collect(["fakegd", "fakegd.extra"])
    assert ref.modules == (["fakegd", "fakegd.extra"] if with_sphinx else ["fakegd"])
    if not with_sphinx:
        monkeypatch.setattr(api, "OPTIONAL", set())
        with pytest.raises(ModuleNotFoundError):
            api.collect(["fakegd", "fakegd.extra"])
