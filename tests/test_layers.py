"""The package's layering: a module imports only from its own layer or the layers below.

reference (the specification) < backends (dispatch, kernels, the compiled modules) < optim
(the optimizers) < everything else (models, lr_scheduler, io, cli, the top-level modules).
The compiled modules' sources in src/ import nothing above backends either, and the
layers below models never reach into an object's private attributes of a layer above.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fastgd"
LAYERS = {"reference": 0, "backends": 1, "optim": 2}
TOP = 3


def _layer(module: str) -> int:
    """The layer of a dotted module name inside fastgd (``fastgd.optim.adam`` -> 2)."""
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) of every fastgd import in a Python file, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("fastgd")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("fastgd"):
            if node.module == "fastgd":  # from fastgd import x: x is the module
                found += [(node.lineno, f"fastgd.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _modules_below_top():
    for layer in LAYERS:
        yield from sorted((PACKAGE / layer).glob("*.py"))


@pytest.mark.parametrize("path", list(_modules_below_top()),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_its_own(path):
    own = LAYERS[path.parent.name]
    upward = [f"line {line}: {module}" for line, module in _imports(path)
              if _layer(module) > own]
    assert not upward, f"{path.relative_to(ROOT)} imports from above its layer: {upward}"


@pytest.mark.parametrize("source", ["src/optim/_core.pyx", "src/optim/fast_step.pxi",
                                    "src/models/_models.pyx"])
def test_the_compiled_modules_import_nothing_above_backends(source):
    text = (ROOT / source).read_text()
    upward = re.findall(r"^\s*(?:from|import)\s+fastgd\.(optim|models|lr_scheduler|io|cli|"
                        r"sklearn|minimize)\b", text, flags=re.M)
    assert not upward, f"{source} names {sorted(set(upward))}"
    # ... nor read an optimizer's attributes (it gets plain data: lists, dicts, tuples)
    assert not re.search(r"\bopt\.\w", text), f"{source} reads an optimizer's attributes"


def test_the_layering_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from fastgd.optim import registry\n")
    assert [module for _, module in _imports(bad)] == ["fastgd.optim"]
    assert _layer("fastgd.optim") > LAYERS["backends"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_fenced_by_work_batch(path):
    assert not re.search(r"#\s*-{3,}\s*(begin|end)\b", path.read_text())
