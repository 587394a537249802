"""Sphinx configuration of fastgd's documentation.

Build: ``pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html``.
The API reference (docs/api/generated/) and the optimizer table (docs/_generated/) are
generated from the installed package at every build; the gallery runs examples/.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import sys
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import fastgd_api  # noqa: E402

import fastgd  # noqa: E402
from fastgd.optim import registry  # noqa: E402

project = "fastgd"
author = "the fastgd authors"
copyright = "the fastgd authors"  # noqa: A001
version = release = fastgd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "fastgd_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json"]
templates_path: list[str] = []

# -- the optimizer table, from the registry -----------------------------------------------
# The README's table (fastgd.optim.registry.markdown_table()), each name linked to its page.
(HERE / "_generated").mkdir(exist_ok=True)
_table = HERE / "_generated" / "optimizer_table.md"
_rows = registry.markdown_table()
for _name in registry.OPTIMIZERS:
    _rows = _rows.replace(f"| `{_name}` |", f"| {{class}}`~fastgd.{_name}` |")
if not _table.exists() or _table.read_text() != _rows:
    _table.write_text(_rows)

# -- the user guide's contents: every page of docs/guide/ ------------------------------------
# The pages of GUIDE_ORDER first, in that order, then any other page of the folder by name:
# a new page needs no entry to be listed.
GUIDE_ORDER = ["getting-started", "optimizers", "schedules", "minimize", "models", "training",
               "sklearn", "cli", "checkpoints", "backends", "numerics", "performance",
               "testing", "troubleshooting", "building", "adding-an-optimizer"]
_pages = sorted(p.stem for p in (HERE / "guide").glob("*.md") if p.stem != "index")
_toc = [p for p in GUIDE_ORDER if p in _pages] + [p for p in _pages if p not in GUIDE_ORDER]
_guide_toc = HERE / "_generated" / "guide_toc.md"
_text = "```{toctree}\n:maxdepth: 1\n\n" + "".join(f"{p}\n" for p in _toc) + "```\n"
if not _guide_toc.exists() or _guide_toc.read_text() != _text:
    _guide_toc.write_text(_text)

# -- API reference ------------------------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_mock_imports = fastgd_api.mocked_imports()
autodoc_typehints = "signature"
# numpy.typing's aliases by name, not expanded into their unions
autodoc_type_aliases = {"ArrayLike": "numpy.typing.ArrayLike",
                        "DTypeLike": "numpy.typing.DTypeLike"}
autodoc_class_signature = "mixed"
autosummary_generate = False  # the pages are written by fastgd_api
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
add_module_names = False

# -- Markdown -----------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- intersphinx ---------------------------------------------------------------------------
# Links to the libraries fastgd matches. Each inventory is used when it can be read: from
# docs/_inventories/<name>.inv if that file exists (to build offline with links), else
# from the library's site. A build that reaches neither (no network) leaves those names
# as plain text instead of failing: set FASTGD_DOCS_OFFLINE=1 to skip the network check.
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "dask": "https://docs.dask.org/en/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
}


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "objects.inv", timeout=5) as response:
            return response.status == 200
    except Exception:
        return False


def _intersphinx_mapping() -> dict[str, tuple[str, object]]:
    local = {name: HERE / "_inventories" / f"{name}.inv" for name in _INVENTORIES}
    online = {}
    if os.environ.get("FASTGD_DOCS_OFFLINE") != "1":
        with concurrent.futures.ThreadPoolExecutor(len(_INVENTORIES)) as pool:
            online = dict(zip(_INVENTORIES, pool.map(_reachable, _INVENTORIES.values())))
    mapping = {}
    for name, url in _INVENTORIES.items():
        if local[name].exists():
            mapping[name] = (url, str(local[name]))
        elif online.get(name):
            mapping[name] = (url, None)
    missing = sorted(set(_INVENTORIES) - set(mapping))
    if missing:
        print(f"intersphinx: no inventory for {', '.join(missing)} (offline?): "
              "their names are left unlinked")
    return mapping


intersphinx_mapping = _intersphinx_mapping()
intersphinx_timeout = 10

# -- gallery -------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"/_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reference_url": {"fastgd": None},
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
}

# -- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"fastgd {release}"
html_static_path = ["_static"]
html_css_files = ["fastgd.css"]
html_theme_options = {"navigation_with_keys": True}
pygments_style = "sphinx"
pygments_dark_style = "monokai"

# The links between pages are checked by the html build (-W: a broken cross-reference or
# page link is an error) and, with their anchors, by tools/check_links.py on the built
# pages. `sphinx-build -b linkcheck` checks the external addresses, for a machine online.
