"""The shared shape of results: frozen dataclasses that show and serialize.

A result subclasses ``Result`` and is declared ``@dataclass(frozen=True)``. It
gets ``to_dict()``, ``to_json()``, ``from_dict()``/``from_json()`` and an HTML
table for notebooks; it writes its own short ``__repr__``.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Timing(Result):
...     latency_ms: float
...     runs: int
>>> t = Timing(1.5, 10)
>>> Timing.from_json(t.to_json()) == t
True
>>> "<table" in t._repr_html_()
True
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from pathlib import Path

from artspeed.core._io import write_text_atomic

__all__ = ["Result", "to_plain", "html_table", "text_table"]


def to_plain(value):
    """Turn numpy scalars and arrays, tuples and paths into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def html_table(rows, header=None, caption: str | None = None) -> str:
    """A small HTML table from rows of cells (used by every result's view)."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption><b>{html.escape(caption)}</b></caption>")
    if header:
        parts.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def text_table(rows, header) -> str:
    """The same rows as ``html_table``, as aligned text: numbers to the right, words to the left.

    >>> print(text_table([("int8", "3.99", "size"), ("float32", "1.00", "")],
    ...                  header=("variant", "x", "frontier")))
    variant     x  frontier
    int8     3.99  size
    float32  1.00
    """
    rows = [tuple(str(c) for c in row) for row in rows]
    header = tuple(str(h) for h in header)
    columns = list(zip(header, *rows))
    widths = [max(len(c) for c in column) for column in columns]
    numeric = [all(c in ("", "-") or c[0] in "0123456789+-." for c in column[1:])
               for column in columns]
    return "\n".join("  ".join(c.rjust(w) if right else c.ljust(w)
                               for c, w, right in zip(row, widths, numeric)).rstrip()
                     for row in (header, *rows))


class Result:
    """Mixin for frozen result dataclasses: JSON in and out, and an HTML view."""

    def to_dict(self) -> dict:
        return to_plain(self)

    def to_json(self, path=None, indent: int = 2) -> str:
        """The result as JSON text; also written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            write_text_atomic(path, text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text_or_path):
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def _html_rows(self):
        """(name, value) rows for the HTML view; subclasses may override."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float, str, bool)) or value is None:
                yield f.name, value

    def _repr_html_(self) -> str:
        return html_table(list(self._html_rows()), header=("", "value"),
                          caption=type(self).__name__)
