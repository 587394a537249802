"""``python -m fastgd`` and the ``fastgd`` console script: the command line of
:mod:`fastgd.cli` (``fastgd demo``, ``fit``, ``predict``, ``bench``, ``plot``)."""

from __future__ import annotations

from fastgd.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
