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


def test_readme_links_to_guide_pages_that_exist():
    """The README is a page that links to the guide (docs/guide/*.md): every relative
    link names a file of the checkout, and every guide page is linked."""
    import re

    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert local, "the README links to no page of the guide"
    for link in local:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
    # every page of the guide, the others' included, is reachable from the README or
    # from the guide's own contents
    assert {pathlib.Path(link).stem for link in local if link.startswith("docs/guide/")} \
        >= {"getting-started", "optimizers", "cli", "performance", "testing"}
    assert 'pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html' in readme
    assert len(readme) < 20_000, "the README is a page: the manual belongs in docs/guide"


def test_readme_performance_table_is_the_guides():
    """The README's table of goals is copied from the performance page of the guide,
    which holds the measured tables: no row may differ."""
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "docs" / "guide" / "performance.md").read_text()
    rows = [line for line in readme.split("## Performance", 1)[1].splitlines()
            if line.startswith("| ")]
    assert len(rows) >= 5 and rows[0].startswith("| goal |")
    for row in rows:
        assert row in guide, f"README row not in docs/guide/performance.md: {row}"


def test_the_guide_documents_every_command():
    """The command line's page (moved from the README) names every command of the
    parser, with its options."""
    from fastgd.cli import build_parser

    page = (ROOT / "docs" / "guide" / "cli.md").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(commands.choices) >= {"demo", "fit", "predict", "bench", "plot"}
    for name, sub in commands.choices.items():
        assert f"`fastgd {name}" in page, name
        for action in sub._actions:
            longs = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
            if longs:
                assert any(f"`{o}" in page or f"{o} " in page or f"{o}`" in page
                           for o in longs), f"fastgd {name} {longs[0]} is not in cli.md"
