"""Key-value logger with Stable-Baselines3's key names and output formats.

Writers: ``stdout`` (a table), ``csv`` (``progress.csv``) and ``tensorboard`` (extra ``tb``).
Keys such as ``rollout/ep_rew_mean``, ``time/fps`` and ``train/approx_kl`` match SB3's, so
existing dashboards and ``results_plotter``-style scripts keep working.
"""

from __future__ import annotations

import csv
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, TextIO

FORMATS = ("stdout", "csv", "tensorboard")


class StdoutWriter:
    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream

    def write(self, values: dict[str, Any], step: int) -> None:
        if not values:
            return
        rows = [(k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in sorted(values.items())]
        kw = max(len(k) for k, _ in rows)
        vw = max(len(v) for _, v in rows)
        line = "-" * (kw + vw + 7)
        out = [line] + [f"| {k:<{kw}} | {v:>{vw}} |" for k, v in rows] + [line]
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()

    def close(self) -> None:
        return None


class CSVWriter:
    """``progress.csv``; when new keys appear the file is rewritten with the wider header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def write(self, values: dict[str, Any], step: int) -> None:
        new = [k for k in values if k not in self.keys]
        self.rows.append(dict(values))
        if new:
            self.keys += sorted(new)
            with self.path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.keys)
                w.writeheader()
                w.writerows(self.rows)
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.keys).writerow(values)

    def close(self) -> None:
        return None


class TensorBoardWriter:
    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # pragma: no cover - depends on the optional extra
            raise ImportError(
                'TensorBoard logging needs the tensorboard package: pip install "rlsuite[tb]"'
            ) from e
        self.writer = SummaryWriter(log_dir=str(folder))

    def write(self, values: dict[str, Any], step: int) -> None:
        for k, v in values.items():
            if isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Logger:
    """``record(key, value)``, ``record_mean(key, value)``, then ``dump(step)`` writes one row."""

    def __init__(
        self, folder: str | Path | None = None, formats: tuple[str, ...] | list[str] = ("stdout",)
    ) -> None:
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise ValueError(f"formats: got {bad}; allowed: {list(FORMATS)}")
        self.dir = Path(folder) if folder is not None else None
        if self.dir is None and any(f != "stdout" for f in formats):
            raise ValueError("formats: csv and tensorboard need a folder")
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.writers: list[Any] = []
        for f in formats:
            if f == "stdout":
                self.writers.append(StdoutWriter())
            elif f == "csv":
                assert self.dir is not None
                self.writers.append(CSVWriter(self.dir / "progress.csv"))
            else:
                assert self.dir is not None
                self.writers.append(TensorBoardWriter(self.dir))
        self.name_to_value: dict[str, Any] = {}
        self._means: dict[str, list[float]] = defaultdict(list)

    def record(self, key: str, value: Any) -> None:
        self.name_to_value[key] = value

    def record_mean(self, key: str, value: float) -> None:
        self._means[key].append(float(value))

    def dump(self, step: int = 0) -> None:
        values = dict(self.name_to_value)
        for k, v in self._means.items():
            if v:
                values[k] = sum(v) / len(v)
        for w in self.writers:
            w.write(values, step)
        self.name_to_value.clear()
        self._means.clear()

    def close(self) -> None:
        for w in self.writers:
            w.close()


def configure(folder: str | Path | None = None, format_strings: list[str] | None = None) -> Logger:
    """A logger like SB3's ``configure``: formats from ``format_strings`` or ``$SB3_LOG_FORMAT``
    (default ``stdout,csv`` with a folder, ``stdout`` without)."""
    if format_strings is None:
        env = os.environ.get("SB3_LOG_FORMAT")
        format_strings = env.split(",") if env else (["stdout", "csv"] if folder is not None else ["stdout"])
    return Logger(folder, format_strings)


def next_run_dir(root: str | Path, name: str) -> Path:
    """``root/name_N`` with N one more than the largest existing run (SB3's TensorBoard naming)."""
    root = Path(root)
    ids = []
    if root.exists():
        for p in root.glob(f"{name}_*"):
            tail = p.name[len(name) + 1 :]
            if tail.isdigit():
                ids.append(int(tail))
    return root / f"{name}_{max(ids, default=0) + 1}"
