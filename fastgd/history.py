"""What a run recorded, step by step or epoch by epoch."""

from __future__ import annotations

from typing import Any

__all__ = ["History"]


class History:
    """Columns of equal length, one row per step (:func:`fastgd.minimize`) or per epoch.

    Every run records ``loss``, ``grad_norm`` (the 2-norm of the gradient), ``lr`` (of the
    first parameter group) and ``time`` (seconds since the run started); a run may record
    more columns. Columns are attributes (``history.loss``) and keys
    (``history["loss"]``); :meth:`as_dict` gives plain lists, ready for JSON (the role
    of Keras's ``History.history`` dict).

    Example::

        h = fastgd.History()
        h.append(loss=1.0, grad_norm=2.0, lr=0.1, time=0.0)
        h.append(loss=0.5, grad_norm=1.0, lr=0.1, time=0.1)
        assert h.loss == [1.0, 0.5] and h["grad_norm"] == [2.0, 1.0]
    """

    def __init__(self, columns: tuple[str, ...] = ("loss", "grad_norm", "lr", "time")) -> None:
        self._columns: dict[str, list] = {name: [] for name in columns}

    def append(self, **row: Any) -> None:
        """Add one row: a value for every column (a new column must come with the first
        row, so that all columns stay aligned)."""
        missing = set(self._columns) - set(row)
        if missing:
            raise ValueError(f"History.append: missing {sorted(missing)}")
        unknown = set(row) - set(self._columns)
        if unknown:
            if len(self):
                raise ValueError(f"History.append: unknown column(s) {sorted(unknown)} "
                                 f"after {len(self)} rows")
            self._columns.update({name: [] for name in sorted(unknown)})
        for name, value in row.items():
            self._columns[name].append(value)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    def __getattr__(self, name: str) -> list:
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(f"History has no column {name!r}; it has {list(columns)}")

    def __getitem__(self, name: str) -> list:
        return self._columns[name]

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()), []))

    def as_dict(self) -> dict[str, list]:
        return {name: list(values) for name, values in self._columns.items()}

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self._columns.items() if v}
        return f"History({len(self)} rows; last: {last})"
