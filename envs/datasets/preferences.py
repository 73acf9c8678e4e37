"""A scripted preference teacher over trajectory segments (the PbRL / OPPO setting).

:func:`label_segments` draws pairs of fixed-length segments from a dataset's episodes (each segment
inside one episode) and labels each pair by the segments' returns, as the scripted teachers of
preference-based RL do (Lee et al. 2021, B-Pref): ``1`` when the first segment's return is higher by
more than ``tie_margin``, ``0`` when the second's is, ``0.5`` (a tie) otherwise; with ``noise > 0``
each non-tie label is flipped with that probability. :class:`SegmentPreferences` keeps the pairs
(their first rows in the dataset), the labels and the segment returns, and saves them beside the
dataset as a pickle-free ``.npz``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.files import atomic_write
from rlsuite.validation import check_int, check_real, check_seed

#: Version of the ``.npz`` layout written by :meth:`SegmentPreferences.save`.
PREFERENCES_FORMAT_VERSION = 1
#: Most pairs :meth:`SegmentPreferences.load` reads.
MAX_PAIRS = 10_000_000


@dataclass(frozen=True)
class SegmentPreferences:
    """Labelled segment pairs of a dataset (module docstring)."""

    #: ``[P, 2]`` the first row (in the dataset) of each pair's two segments.
    starts: np.ndarray
    #: Steps per segment.
    length: int
    #: ``[P]`` 1.0 (first preferred), 0.0 (second preferred) or 0.5 (tie).
    labels: np.ndarray
    #: ``[P, 2]`` the segments' returns (sums of rewards) the labels came from.
    returns: np.ndarray

    def __post_init__(self) -> None:
        starts = np.asarray(self.starts, dtype=np.int64)
        labels = np.asarray(self.labels, dtype=np.float64)
        returns = np.asarray(self.returns, dtype=np.float64)
        length = check_int("length", self.length, 1)
        if starts.ndim != 2 or starts.shape[1] != 2 or starts.min(initial=0) < 0:
            raise ValueError(f"starts: shape {starts.shape}; must be [pairs, 2] non-negative row indices")
        if labels.shape != (len(starts),) or not np.isin(labels, (0.0, 0.5, 1.0)).all():
            raise ValueError("labels: one of 0, 0.5 or 1 per pair")
        if returns.shape != starts.shape or not np.isfinite(returns).all():
            raise ValueError(f"returns: shape {returns.shape}; must be finite, [pairs, 2]")
        for name, value in (("starts", starts), ("labels", labels), ("returns", returns), ("length", length)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.labels)

    def segment_rows(self) -> np.ndarray:
        """``[P, 2, length]`` the dataset rows of every segment."""
        return self.starts[:, :, None] + np.arange(self.length)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (atomically; arrays only)."""
        with atomic_write(Path(path), "wb") as fh:
            np.savez(
                fh,
                starts=self.starts,
                labels=self.labels,
                returns=self.returns,
                meta=np.asarray(
                    json.dumps({"format_version": PREFERENCES_FORMAT_VERSION, "length": self.length})
                ),
            )

    @classmethod
    def load(cls, path: str | Path) -> SegmentPreferences:
        """Read a file written by :meth:`save` (``allow_pickle=False``, size bounded, checked)."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(i.file_size for i in zf.infolist())
        except (OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a preferences file ({e})") from e
        if total > MAX_PAIRS * 8 * 6:
            raise ValueError(f"{path}: {total} bytes; more than {MAX_PAIRS} pairs")
        with np.load(path, allow_pickle=False) as data:
            if set(data.files) != {"starts", "labels", "returns", "meta"}:
                raise ValueError(f"{path}: arrays {sorted(data.files)}; not a preferences file")
            meta = json.loads(str(data["meta"]))
            if not isinstance(meta, dict) or meta.get("format_version") != PREFERENCES_FORMAT_VERSION:
                raise ValueError(f"{path}: format_version must be {PREFERENCES_FORMAT_VERSION}")
            return cls(data["starts"], int(meta.get("length", 0)), data["labels"], data["returns"])


def label_segments(
    dataset: TransitionDataset,
    n_pairs: int,
    segment_length: int,
    *,
    noise: float = 0.0,
    tie_margin: float = 0.0,
    seed: int = 0,
) -> SegmentPreferences:
    """``n_pairs`` segment pairs of ``segment_length`` steps, drawn uniformly among the segments
    that fit inside an episode, labelled by their returns (module docstring)."""
    n_pairs = check_int("n_pairs", n_pairs, 1)
    length = check_int("segment_length", segment_length, 1)
    noise = check_real("noise", noise, 0.0, 0.5)
    tie_margin = check_real("tie_margin", tie_margin, 0.0)
    rng = np.random.default_rng(check_seed("seed", seed))
    if dataset.reward_dim != 1:
        raise ValueError("dataset: vector rewards; the teacher compares scalar returns")
    valid = np.concatenate(
        [
            np.arange(rows.start, rows.stop - length + 1)
            for rows in dataset.episodes()
            if rows.stop - rows.start >= length
        ]
        or [np.zeros(0, np.int64)]
    )
    if len(valid) == 0:
        raise ValueError(f"segment_length: {length} is longer than every episode of the dataset")
    starts = valid[rng.integers(0, len(valid), size=(n_pairs, 2))]
    cumulative = np.r_[0.0, np.cumsum(dataset.rewards.astype(np.float64))]
    returns = cumulative[starts + length] - cumulative[starts]
    diff = returns[:, 0] - returns[:, 1]
    labels = np.where(diff > tie_margin, 1.0, np.where(diff < -tie_margin, 0.0, 0.5))
    flip = (rng.random(n_pairs) < noise) & (labels != 0.5)
    labels = np.where(flip, 1.0 - labels, labels)
    return SegmentPreferences(starts, length, labels, returns)
