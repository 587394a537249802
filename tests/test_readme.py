"""The README's two commands are the ones CI runs."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMANDS = ['pip install . && fastgd demo', 'pip install ".[test]" && pytest -n auto']


def test_readme_opens_with_the_two_commands_and_ci_runs_them():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    for command in COMMANDS:
        assert command in first_block
        assert command in ci
    assert "FASTGD_BACKEND=cython" in ci.split('pip install ".[test]" && pytest')[0]


def test_readme_lists_every_optimizer_with_its_defaults():
    from fastgd import registry
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- optimizers:", 1)[1].split("-->", 1)[1]
    table = table.split("<!-- end optimizers -->", 1)[0].strip("\n") + "\n"
    assert table == registry.markdown_table(), "regenerate it from fastgd.registry.markdown_table()"
