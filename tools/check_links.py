"""Check the internal links of the built documentation: every relative ``href`` and
``src`` of every page names a file of the build, and every ``#anchor`` an id of that page.

    python tools/check_links.py docs/_build/html

Exits with 1 and lists the broken links if there are any. External addresses
(``http:``, ``https:``, ``mailto:``) are not checked. Nor are the anchors of the links
from the highlighted sources (``_modules/``, Sphinx's viewcode) back to the reference:
viewcode names every object of a source module after the first module name it was
documented under (``fastgd.backend`` makes ``fastgd.backends.active`` ``#fastgd.active``),
so for re-exported names those anchors miss; the pages they name are checked.
"""

from __future__ import annotations

import html.parser
import pathlib
import sys
import urllib.parse


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            elif name in ("href", "src") and value and not (tag == "link" and "://" in value):
                self.links.append(value)


def _parse(path: pathlib.Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def broken_links(root: pathlib.Path) -> list[str]:
    pages = {p: _parse(p) for p in root.rglob("*.html")}
    broken = []
    for path, page in pages.items():
        for link in page.links:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("javascript:"):
                continue
            target = (path.parent / urllib.parse.unquote(parts.path)).resolve() \
                if parts.path else path
            if not target.exists():
                broken.append(f"{path.relative_to(root)}: {link} (no such file)")
                continue
            from_source = path.relative_to(root).parts[0] == "_modules"
            if parts.fragment and target.suffix == ".html" and not from_source:
                ids = pages[target].ids if target in pages else _parse(target).ids
                if urllib.parse.unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(root)}: {link} (no such anchor)")
    return broken


def main(argv: list[str]) -> int:
    root = pathlib.Path(argv[0] if argv else "docs/_build/html").resolve()
    if not (root / "index.html").exists():
        print(f"{root}: no index.html (build the documentation first)", file=sys.stderr)
        return 2
    broken = broken_links(root)
    for line in broken:
        print(line)
    count = sum(len(_parse(p).links) for p in root.rglob("*.html"))
    print(f"{len(broken)} broken of {count} links in {root}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
