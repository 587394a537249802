"""What the commands of ``fastgd`` share: :class:`CLIError`, the progress bar, text
tables, the backend line and the checks and writes of output files."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

import fastgd
from fastgd import backends

__all__ = ["CLIError", "Progress"]


class CLIError(Exception):
    """An error the command reports as one line (``status``: 2 usage, 1 a failed run)."""

    def __init__(self, message: str, status: int = 2, prog: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.prog = prog


class Progress:
    """A progress bar on ``stream`` (stderr) for ``total`` units, drawn only when the
    stream is a terminal and ``enabled``: tqdm's bar when tqdm is installed (and
    ``use_tqdm``), else one line rewritten in place and cleared at the end. ``update(n,
    info)`` advances it; ``close()`` ends it (also on leaving a ``with`` block)."""

    def __init__(self, total: int, desc: str, *, enabled: bool = True,
                 stream: TextIO | None = None, use_tqdm: bool = True) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total, self.desc, self.done = total, desc, 0
        isatty = getattr(self.stream, "isatty", None)
        self.active = bool(enabled and isatty is not None and isatty())
        self._bar = None
        self._width = 0
        if self.active and use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, desc=desc, file=self.stream, leave=False,
                                 dynamic_ncols=True)

    def update(self, n: int = 1, info: str = "") -> None:
        self.done += n
        if not self.active:
            return
        if self._bar is not None:
            if info:
                self._bar.set_postfix_str(info, refresh=False)
            self._bar.update(n)
            return
        line = f"{self.desc}: {self.done}/{self.total}" + (f"  {info}" if info else "")
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()

    def close(self) -> None:
        if not self.active:
            return
        self.active = False
        if self._bar is not None:
            self._bar.close()
        elif self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _out(text: str = "") -> None:
    print(text, flush=True)


def _set_backend(args) -> None:
    if getattr(args, "backend", None):
        try:
            fastgd.set_backend(args.backend)
        except ImportError as exc:
            raise CLIError(str(exc).splitlines()[0], 1) from None


def _backend_line() -> str:
    module = backends.active()
    openmp = getattr(module, "OPENMP", None)
    return (f"backend: {fastgd.backend()} ({module.__file__})"
            + (f", OpenMP {'on' if openmp else 'off'}" if openmp is not None else ""))


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
           align: str | None = None) -> str:
    """Rows as aligned text columns (``align``: one ``<`` or ``>`` per column; text left,
    numbers right by default), a rule under the header."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if align is None:
        align = "<" + ">" * (len(headers) - 1)

    def line(values):
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(values, align, widths)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)]
                     + [line(r) for r in cells])


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}", 1) from None


def _check_writable(path: str | None, suffixes: tuple[str, ...], option: str) -> None:
    """Refuse an output path up front (before a long run): wrong suffix or no folder."""
    if path is None or path == "-":
        return
    if suffixes and not path.lower().endswith(suffixes):
        raise CLIError(f"{option} {path!r}: the file name must end with "
                       f"{' or '.join(suffixes)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{option} {path!r}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a folder")


def _plot_dir(path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"--plot {path!r} is a file; give a folder for the pictures")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create {path}: {exc.strerror or exc}", 1) from None
