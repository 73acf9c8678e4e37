"""Files written so that a crash never leaves a half-written one behind.

Every file rlsuite writes (model zips, checkpoints, benchmark CSVs and plots, CLI outputs) goes
through :func:`atomic_write`: the content goes to a temporary file in the same folder, is
flushed to disk, then renamed over the target in one step (``os.replace`` is atomic on POSIX
and Windows). A process killed while saving leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new, empty file next to ``path``, created with mode 0o666 so that the umask applies as
    it would to ``open(path, "w")`` (``tempfile.mkstemp`` would make every result owner-only)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"path: could not create a temporary file next to {str(path)!r}")


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; on a clean exit it replaces ``path``.

    ``mode`` is ``"w"`` (text; ``open_kwargs`` such as ``newline=""`` pass through) or ``"wb"``.
    On an exception the temporary file is removed and ``path`` is left as it was. A file that is
    replaced keeps its permission bits; a new one gets the umask's, as with ``open``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode: got {mode!r}; allowed: 'w', 'wb'")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path: got {str(path)!r}; it is a directory, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        try:
            f = os.fdopen(fd, mode, **open_kwargs)
        except BaseException:
            os.close(fd)
            raise
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(
    path: str | Path, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str], **writer_kwargs: Any
) -> Path:
    """Write ``rows`` under a header of ``fieldnames`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_write(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fieldnames), **writer_kwargs)
        w.writeheader()
        w.writerows(rows)
    return path


def append_csv(
    path: str | Path, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str], **writer_kwargs: Any
) -> Path:
    """Append ``rows`` to the CSV at ``path`` (a header first when the file is new or empty), by
    rewriting the whole file atomically: a crash keeps either the old rows or old and new ones."""
    path = Path(path)
    old = ""
    if path.is_file():
        with path.open(newline="") as f:  # keep the csv module's \r\n line ends as they are
            old = f.read()
    with atomic_write(path, "w", newline="") as f:
        f.write(old)
        w = csv.DictWriter(f, fieldnames=list(fieldnames), **writer_kwargs)
        if not old:
            w.writeheader()
        w.writerows(rows)
    return path


def save_figure(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """``fig.savefig`` through :func:`atomic_write` (the format is taken from the suffix)."""
    path = Path(path)
    fmt = savefig_kwargs.pop("format", path.suffix.lstrip(".") or "png")
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=fmt, **savefig_kwargs)
    return path
