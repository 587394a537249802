"""The README's two commands are the ones CI runs."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMANDS = ['pip install . && fastgd demo', 'pip install ".[test]" && pytest -n auto']


def test_readme_opens_with_the_two_commands_and_ci_runs_them():
    """CI compiles the core once, as a wheel, and runs each command's parts on it: the
    demo and ``pytest -n auto`` (with the compiled backend demanded) on the wheel
    installed with the test extra, and the install command itself from the checkout, in
    the build without OpenMP. ``pip install .`` installs a subset of what
    ``pip install ".[test]"`` does."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    for command in COMMANDS:
        assert command in first_block
    for part in ('pip install ".[test]"', "fastgd demo", "pytest -n auto"):
        assert part in ci, part
    before_tests = ci.split("pytest -n auto", 1)[0]
    assert "export FASTGD_BACKEND=cython" in before_tests
    assert "unset FASTGD_BACKEND" not in before_tests


def test_readme_lists_every_optimizer_with_its_defaults():
    from fastgd.optim import registry
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- optimizers:", 1)[1].split("-->", 1)[1]
    table = table.split("<!-- end optimizers -->", 1)[0].strip("\n") + "\n"
    assert table == registry.markdown_table(), \
        "regenerate it from fastgd.optim.registry.markdown_table()"
