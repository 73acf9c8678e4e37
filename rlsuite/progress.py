"""A progress bar that uses tqdm when it is installed (extra ``progress``) and degrades to nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enable: bool = True
) -> Iterator[T]:
    """Iterate with a tqdm bar when tqdm is available and ``enable`` is True."""
    if enable:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            yield from tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
            return
    yield from iterable


def format_table(rows: list[dict[str, Any]], columns: list[str], floatfmt: str = "{:.2f}") -> str:
    """A plain-text table (no dependency) of ``rows`` restricted to ``columns``."""
    cells = [[c for c in columns]]
    for r in rows:
        cells.append([floatfmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in columns])
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for k, row in enumerate(cells):
        pairs = enumerate(zip(row, widths, strict=True))
        padded = [v.rjust(w) if k and i else v.ljust(w) for i, (v, w) in pairs]
        lines.append("  ".join(padded))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
