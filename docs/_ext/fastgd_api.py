"""The API reference, generated from the package when the documentation is built.

One page per public module (its docstring and a table of its public names) and one page
per public name (its docstring: the update rule in math, the arguments, an example). A
name is documented once, on the page of the first module in :data:`MODULES` that exports
it (``fastgd.Adam``, not also ``fastgd.optim.Adam``); later modules' tables link there,
and a cross-reference to any of its other names (``fastgd.optim.adam.Adam``,
``fastgd.models.fit``) is resolved to that page. A reference to a ``fastgd`` name that
exists nowhere is a warning, so ``sphinx-build -W`` fails on it.

Adding a module to the reference is one line in :data:`MODULES`. The modules of
:data:`OPTIONAL` get their pages only when they exist in the package being documented.

The functions below need no Sphinx (the tests import this file to check that every
public name gets a page); :func:`setup` connects them to a Sphinx build.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pathlib
import re
import types
from dataclasses import dataclass, field

#: The documented modules, in the reference's order. A name exported by several of them
#: is documented on the first one's page.
MODULES = [
    "fastgd",
    "fastgd.optim",
    "fastgd.optim.registry",
    "fastgd.optim.hessian",
    "fastgd.optim.spec",
    "fastgd.optim.optimizer",
    "fastgd.lr_scheduler",
    "fastgd.lr_scheduler.base",
    "fastgd.models",
    "fastgd.models.training",
    "fastgd.models.stream",
    "fastgd.models.losses",
    "fastgd.models.linear",
    "fastgd.models.clip",
    "fastgd.models.sparse",
    "fastgd.models.sparse_training",
    "fastgd.sklearn",
    "fastgd.minimize",
    "fastgd.functions",
    "fastgd.history",
    "fastgd.buffer",
    "fastgd.mlp",
    "fastgd.io",
    "fastgd.io.checkpoint",
    "fastgd.io.fit_resume",
    "fastgd.io.data",
    "fastgd.io.chunks",
    "fastgd.io.model_file",
    "fastgd.kernels",
    "fastgd.reference",
    "fastgd.reference.lbfgs",
    "fastgd.reference.lowp",
    "fastgd.reference.muon",
    "fastgd.reference.sparse_adam",
    "fastgd.reference.lowbit",
    "fastgd.reference.sparse_sgd",
    "fastgd.reference.sparse_momentum",
    "fastgd.backends",
    "fastgd.plot",
    "fastgd.cli",
    "fastgd.torch",
    "fastgd.dask",
]

#: Modules documented only when the package has them (optional parts of the package).
OPTIONAL = {"fastgd.torch", "fastgd.dask"}

#: Public modules (with ``__all__``) whose names are not in the reference, and why.
NOT_IN_REFERENCE = {
    "fastgd.cli.bench": "the commands' code: the command line is in the user guide",
    "fastgd.cli.demo": "the commands' code: the command line is in the user guide",
    "fastgd.cli.fit": "the commands' code: the command line is in the user guide",
    "fastgd.cli.fit_stream": "the commands' code: the command line is in the user guide",
    "fastgd.cli.plot": "the commands' code: the command line is in the user guide",
    "fastgd.models.params": "the argument rules that fit, the estimators and the command "
                            "line share; each documents its own arguments",
}

#: Third-party packages that optional modules import: those not installed are mocked
#: while the modules are imported for the reference, so that it builds without them.
OPTIONAL_IMPORTS = ["torch", "dask", "distributed"]


def mocked_imports() -> list[str]:
    """The packages of :data:`OPTIONAL_IMPORTS` that are not installed."""
    return [name for name in OPTIONAL_IMPORTS if importlib.util.find_spec(name) is None]


def _import(modname: str) -> types.ModuleType:
    """Import a module of the package, with Sphinx's mock of the missing optional imports
    when Sphinx is there."""
    try:
        from sphinx.ext.autodoc.mock import mock
    except ImportError:
        return importlib.import_module(modname)
    with mock(mocked_imports()):
        return importlib.import_module(modname)


def present_modules() -> list[str]:
    """:data:`MODULES` less the optional ones the package does not have."""
    found = []
    for name in MODULES:
        if name in OPTIONAL:
            parent, _, child = name.rpartition(".")
            spec = importlib.util.find_spec(parent)
            locations = list(spec.submodule_search_locations or []) if spec else []
            if not any(pathlib.Path(p, child + ".py").exists()
                       or pathlib.Path(p, child, "__init__.py").exists() for p in locations):
                continue
        found.append(name)
    return found


def public_names(module: types.ModuleType) -> list[str]:
    """The module's ``__all__``, or else the names it defines itself (not imported ones
    and not ``_``-prefixed ones): the rule the tests use too."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, o in vars(module).items()
                 if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__]
    return [n for n in names if not n.startswith("__")]


def _kind(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return "data"


def attribute_doc(modname: str, name: str) -> bool:
    """Whether the module's source documents ``name`` with ``#:`` comments right above its
    assignment, which is what autodoc shows for data."""
    try:
        source = inspect.getsource(importlib.import_module(modname))
    except (OSError, TypeError):
        return False
    pattern = rf"^#:.*\n(?:#:.*\n)*{re.escape(name)}\s*(?::[^=\n]*)?="
    return re.search(pattern, source, flags=re.MULTILINE) is not None


def _shared(obj: object) -> bool:
    """Whether ``obj`` is identified by identity across modules (not a small immutable
    value, which may be the same object by chance)."""
    return not isinstance(obj, (int, float, complex, str, bytes, bool, type(None)))


_MISSING = object()


def class_members(cls: type) -> list[str]:
    """The public methods, properties and attributes a class gets from fastgd's own code
    (its bases' included, in the order they are defined; not those of other libraries,
    e.g. scikit-learn's ``BaseEstimator``)."""
    names: list[str] = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("fastgd"):
            continue
        candidates = list(vars(klass)) + list(vars(klass).get("__annotations__", {}))
        for name in candidates:
            if name.startswith("_") or name in names:
                continue
            value = inspect.getattr_static(cls, name, _MISSING)
            if isinstance(value, (property, staticmethod, classmethod)) \
                    or inspect.isfunction(value):
                func = getattr(value, "fget", None) or getattr(value, "__func__", value)
                if not getattr(func, "__module__", "").startswith("fastgd"):
                    continue
            elif value is not _MISSING and hasattr(type(value), "__get__") \
                    and not type(value).__module__.startswith("fastgd"):
                # another library's descriptor: kept when it wraps fastgd's own method
                # (scikit-learn's available_if), not otherwise (its request methods)
                wrapped = getattr(value, "fn", None) or getattr(value, "__wrapped__", None)
                if not getattr(wrapped, "__module__", "").startswith("fastgd"):
                    continue
            names.append(name)
    return names


@dataclass
class Entry:
    """One public name of a module: where it is documented (``canonical``) and how."""
    module: str
    name: str
    kind: str
    canonical: str

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def owns_page(self) -> bool:
        return self.canonical == self.full and self.kind != "module"


@dataclass
class Reference:
    """The whole reference: the entries of every module and the aliases of each name."""
    modules: list[str]
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    #: every other dotted name of a documented object (its defining module's path, the
    #: other modules that export it) -> its documented name
    aliases: dict[str, str] = field(default_factory=dict)


def collect(modules: list[str] | None = None) -> Reference:
    """Import the modules and assign every public name its documented name: the first
    module that exports the object, or for data the first whose source documents it."""
    modules = list(present_modules() if modules is None else modules)
    ref = Reference(modules)
    found: list[tuple[str, str, object]] = []
    for modname in list(modules):  # a copy: optional modules may be removed
        try:
            module = _import(modname)
        except ModuleNotFoundError as error:
            # an optional module whose third-party package is missing, where nothing can
            # mock it (no Sphinx: the tests): left out
            if modname not in OPTIONAL or str(error.name).split(".")[0] not in OPTIONAL_IMPORTS:
                raise
            modules.remove(modname)
            continue
        found += [(modname, name, getattr(module, name)) for name in public_names(module)]
    documented: dict[int, str] = {}
    for modname, name, obj in found:  # data documented in the source comes first
        if _kind(obj) == "data" and _shared(obj) and attribute_doc(modname, name):
            documented.setdefault(id(obj), f"{modname}.{name}")
    for modname, name, obj in found:
        kind = _kind(obj)
        full = f"{modname}.{name}"
        if kind == "module":
            canonical = obj.__name__
        elif kind == "data" and not _shared(obj):
            canonical = full
        else:
            canonical = documented.setdefault(id(obj), full)
            if canonical != full:
                ref.aliases[full] = canonical
            home = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if kind != "data" and home != canonical and not home.startswith("."):
                ref.aliases.setdefault(home, canonical)
        ref.entries.setdefault(modname, []).append(Entry(modname, name, kind, canonical))
    for modname in modules:
        ref.entries.setdefault(modname, [])
    return ref


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def module_page(ref: Reference, modname: str) -> str:
    rows = ref.entries[modname]
    out = [_title(modname), f".. automodule:: {modname}\n", f".. currentmodule:: {modname}\n"]
    sections = [("Modules", "module"), ("Classes", "class"), ("Functions", "function"),
                ("Exceptions and warnings", "exception"), ("Data", "data")]
    pages = []
    for heading, kind in sections:
        chosen = [e for e in rows if e.kind == kind]
        if kind == "module":
            chosen = [e for e in chosen if e.canonical in ref.modules]
        if not chosen:
            continue
        out.append(_title(heading, "-"))
        if kind == "module":
            out.append("\n".join(f"- :mod:`{e.canonical}`" for e in chosen) + "\n")
            continue
        if kind == "data":  # a list: a table would show the summary of the value's type
            out.append("\n".join(f"- :data:`{e.name if e.owns_page else '~' + e.canonical}`"
                                 for e in chosen) + "\n")
            pages += [e.full for e in chosen if e.owns_page]
            continue
        items = []
        for e in chosen:
            items.append(e.name if e.owns_page else f"~{e.canonical}")
            if e.owns_page:
                pages.append(e.full)
        out.append(".. autosummary::\n   :nosignatures:\n\n"
                   + "".join(f"   {i}\n" for i in items))
    if pages:
        out.append(".. toctree::\n   :hidden:\n\n" + "".join(f"   {p}\n" for p in pages))
    return "\n".join(out)


def member_page(entry: Entry) -> str:
    obj = getattr(_import(entry.module), entry.name)
    if entry.kind == "data" and not attribute_doc(entry.module, entry.name):
        # no documentation of its own: the value, not the docstring of its type
        value = repr(obj)
        body = f".. py:data:: {entry.name}\n"
        if len(value) <= 200 and "\n" not in value and " at 0x" not in value:
            body += f"   :value: {value}\n"
    else:
        directive = {"class": "autoclass", "exception": "autoexception",
                     "function": "autofunction", "data": "autodata"}[entry.kind]
        options = {"class": ["show-inheritance"], "exception": ["show-inheritance"],
                   "function": [], "data": ["no-value"]}[entry.kind]
        options = [f":{o}:" for o in options]
        if entry.kind == "class" and class_members(obj):
            options.insert(0, ":members: " + ", ".join(class_members(obj)))
        body = f".. {directive}:: {entry.name}\n" + "".join(f"   {o}\n" for o in options)
    return "\n".join([_title(entry.full), f".. currentmodule:: {entry.module}\n", body])


def pages(ref: Reference) -> dict[str, str]:
    """The generated files, by path relative to the documentation's root."""
    files = {}
    for modname in ref.modules:
        files[f"api/generated/{modname}.rst"] = module_page(ref, modname)
        for e in ref.entries[modname]:
            if e.owns_page:
                files[f"api/generated/{e.full}.rst"] = member_page(e)
    files["_generated/api_toc.md"] = (
        "```{toctree}\n:maxdepth: 1\n\n"
        + "".join(f"generated/{m}\n" for m in ref.modules) + "```\n")
    return files


def write(root: pathlib.Path, files: dict[str, str]) -> None:
    """Write the files under ``root``, leaving unchanged ones untouched (no rebuild), and
    remove generated pages of names that no longer exist."""
    generated = root / "api" / "generated"
    if generated.exists():
        for old in generated.glob("*.rst"):
            if f"api/generated/{old.name}" not in files:
                old.unlink()
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


# -- Sphinx ---------------------------------------------------------------------------------

def _candidates(target: str, modname: str | None, classname: str | None) -> list[str]:
    found = [target]
    if modname:
        parts = modname.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if classname:
                found.append(f"{prefix}.{classname}.{target}")
            found.append(f"{prefix}.{target}")
    return found


def _canonical(ref: Reference, documented: set[str], name: str) -> str | None:
    if name in documented:
        return name
    if name in ref.aliases:
        return ref.aliases[name]
    head, _, tail = name.rpartition(".")
    while head:  # a member of an aliased class: fastgd.optim.Adam.step -> fastgd.Adam.step
        if head in ref.aliases:
            return f"{ref.aliases[head]}.{tail}"
        head, _, rest = head.rpartition(".")
        tail = f"{rest}.{tail}"
    return None


#: The sidebar's depth: the root's sections (l1), their pages (l2: the guide's pages, the
#: module pages), and no deeper.
SIDEBAR_DEPTH = 2


def setup(app):  # pragma: no cover - exercised by the documentation build
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    state: dict[str, Reference] = {}

    def generate(app):
        ref = collect()
        state["ref"] = ref
        write(pathlib.Path(app.srcdir), pages(ref))

    def missing_reference(app, env, node, contnode):
        if node.get("refdomain") != "py":
            return None
        ref = state["ref"]
        domain = env.get_domain("py")
        documented = {name for name, *_ in domain.get_objects()}
        target = node["reftarget"].lstrip("~.")
        for cand in _candidates(target, node.get("py:module"), node.get("py:class")):
            canon = _canonical(ref, documented, cand)
            if canon:
                resolved = domain.resolve_xref(env, node["refdoc"], app.builder,
                                               node["reftype"], canon, node, contnode)
                if resolved is not None:
                    return resolved
        private = any(part.startswith("_") for part in target.split("."))
        if target.split(".")[0] == "fastgd" and not private:
            logger.warning("broken cross-reference to %s (%s role): no such documented "
                           "name", target, node["reftype"], location=node,
                           type="fastgd", subtype="xref")
        return None

    def public_bases(app, name, obj, options, bases):
        """Show a private base class (``_BaseGD``) as the public bases it derives from."""
        shown: list = []
        for base in bases:
            todo = [base]
            while todo:
                b = todo.pop(0)
                if getattr(b, "__name__", "").startswith("_") and b is not object:
                    todo[:0] = [c for c in b.__bases__ if c is not object]
                elif b not in shown:
                    shown.append(b)
        bases[:] = shown

    def sidebar_to_modules(app, pagename, templatename, context, doctree):
        """The theme's sidebar lists the guide, the gallery and the module pages, not each
        name's page (a module page's table lists those): the theme resolves the whole
        tree for every page, which with the 300-odd name pages took three quarters of the
        build. Runs before the theme's handler (priority 500), which calls this."""
        toctree = context.get("toctree")
        if toctree is None:
            return

        def modules_deep(**kwargs):
            kwargs["maxdepth"] = SIDEBAR_DEPTH
            return toctree(**kwargs)

        context["toctree"] = modules_deep

    app.connect("builder-inited", generate)
    app.connect("html-page-context", sidebar_to_modules, priority=400)
    app.connect("autodoc-process-bases", public_bases)
    # after intersphinx (priority 500), which resolves the other libraries' names
    app.connect("missing-reference", missing_reference, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
