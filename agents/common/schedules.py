"""Hyperparameters that change over training: constants or functions of ``progress_remaining``.

``progress_remaining`` goes from 1 (start of ``learn``) to 0 (end), as in Stable-Baselines3.
Every schedule an agent uses is wrapped in :class:`CheckedSchedule`, so a learning rate or a clip
range that leaves its range mid-training stops ``learn`` with its name. :class:`LinearSchedule`
is serializable (``{"linear_schedule": [start, end]}`` in a model's config); any other callable
is not, and must be passed again to ``load``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rlsuite.validation import ArgumentTypeError, check_real, is_real, short_repr

Schedule = Callable[[float], float]


class LinearSchedule:
    """``start`` at the beginning of training, ``end`` at the end (``progress_remaining`` 1 -> 0).
    Serializable, so a model saved with it loads without overrides."""

    def __init__(self, start: float, end: float = 0.0) -> None:
        self.start = check_real("linear_schedule start", start)
        self.end = check_real("linear_schedule end", end)

    def __call__(self, progress_remaining: float) -> float:
        return self.end + (self.start - self.end) * progress_remaining

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinearSchedule) and (self.start, self.end) == (other.start, other.end)

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    def __repr__(self) -> str:
        return f"linear_schedule({self.start!r}, {self.end!r})"

    def to_json(self) -> dict[str, Any]:
        return {"linear_schedule": [self.start, self.end]}


def linear_schedule(start: float, end: float = 0.0) -> LinearSchedule:
    """Linear annealing from ``start`` to ``end`` (e.g. ``learning_rate=linear_schedule(3e-4)``)."""
    return LinearSchedule(start, end)


class CheckedSchedule:
    """A schedule whose every value is checked to lie in ``[low, high]`` (finite), so that a
    learning rate or a clip range that goes negative or NaN stops training with its name."""

    def __init__(self, fn: Schedule, name: str, low: float, high: float) -> None:
        self.fn, self.name, self.low, self.high = fn, name, low, high

    def __call__(self, progress_remaining: float) -> float:
        v = self.fn(progress_remaining)
        if type(v) is float and self.low <= v <= self.high:  # fast path (NaN fails the comparison)
            return v
        return check_real(
            f"{self.name} (schedule at progress_remaining={progress_remaining:.4g})",
            v,
            self.low,
            None if math.isinf(self.high) else self.high,
        )


def check_schedule(
    value: float | Schedule, name: str, low: float = 0.0, high: float = math.inf, positive_start: bool = True
) -> float | Schedule:
    """``value`` checked as a constant (returned as a float) or a schedule callable (returned as
    is, its values at ``progress_remaining`` 1 and 0 checked) in ``[low, high]``, finite; with
    ``positive_start`` a constant, and a schedule's first value, must exceed ``low`` (a schedule
    may anneal down to ``low``, as ``linear_schedule(3e-4)`` does to 0)."""
    upper = None if math.isinf(high) else high
    if callable(value) and not isinstance(value, type):
        start = value(1.0)
        check_real(f"{name} (schedule at progress_remaining=1)", start, low, upper, low_open=positive_start)
        check_real(f"{name} (schedule at progress_remaining=0)", value(0.0), low, upper)
        return value
    if not is_real(value):
        raise ArgumentTypeError(
            f"{name}: got {short_repr(value)}; must be a finite number or a schedule "
            "callable of progress_remaining (1 -> 0)"
        )
    return check_real(name, value, low, upper, low_open=positive_start)


def make_schedule(
    value: float | Schedule, name: str, low: float = 0.0, high: float = math.inf, positive_start: bool = True
) -> Schedule:
    """A constant or a schedule of ``progress_remaining`` (1 -> 0), checked by
    :func:`check_schedule` now and, for a schedule, at every call (:class:`CheckedSchedule`)."""
    checked = check_schedule(value, name, low, high, positive_start)
    if callable(checked):
        return CheckedSchedule(checked, name, low, high)
    return lambda _progress: checked


def schedule_to_json(value: Any) -> Any:
    """A config value for ``data.json``: a :class:`LinearSchedule` as its JSON form, any other
    callable as ``None`` (not serializable: pass it again to ``load``), anything else as is."""
    if isinstance(value, LinearSchedule):
        return value.to_json()
    if callable(value):
        return None
    return value


def schedule_from_json(value: Any) -> Any:
    """The inverse of :func:`schedule_to_json` (``None`` stays ``None``)."""
    if isinstance(value, dict) and "linear_schedule" in value:
        bounds = value["linear_schedule"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise ValueError(f"linear_schedule: got {bounds!r} in a saved model; expected [start, end]")
        return LinearSchedule(*bounds)
    return value
