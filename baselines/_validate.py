"""Argument checks shared by the baselines: each names the field, the value and what is allowed.

Wrong types raise ``TypeError`` (a float where an integer is needed, a bool where a number is,
a string where a sequence of seeds is); wrong values raise ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (Python or numpy; not a bool, not a float such as 2.0) in ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be an integer")
    x = int(value)
    if (minimum is not None and x < minimum) or (maximum is not None and x > maximum):
        lo = "-inf" if minimum is None else str(minimum)
        hi = "inf" if maximum is None else str(maximum)
        raise ValueError(f"{name}: got {x}; must be an integer in [{lo}, {hi}]")
    return x


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
) -> float:
    """A finite real number (not a bool, not a string) ``>= minimum`` (``> minimum`` if ``strict``)
    and ``<= maximum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be a real number")
    x = float(value)
    low_ok = minimum is None or (x > minimum if strict else x >= minimum)
    if not math.isfinite(x) or not low_ok or (maximum is not None and x > maximum):
        parts = []
        if minimum is not None:
            parts.append(f"{'>' if strict else '>='} {minimum:g}")
        if maximum is not None:
            parts.append(f"<= {maximum:g}")
        bound = f" {' and '.join(parts)}" if parts else ""
        raise ValueError(f"{name}: got {value!r}; must be a finite number{bound}")
    return x


def check_optional_number(name: str, value: Any, **bounds: Any) -> float | None:
    """``None`` or :func:`check_number`."""
    return None if value is None else check_number(name, value, **bounds)


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy bools accepted); not 0, 1 or ``"yes"``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be True or False")
    return bool(value)


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}: got {value!r}; allowed: {allowed}")
    return value


def check_seeds(name: str, seeds: Any, *, allow_empty: bool = False) -> list[int]:
    """A sequence of integer seeds ``>= 0`` (numpy's seeding refuses negative ones)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, range, np.ndarray)):
        raise TypeError(
            f"{name}: got {seeds!r} ({type(seeds).__name__}); must be a sequence of integers >= 0"
        )
    if isinstance(seeds, np.ndarray) and seeds.ndim != 1:
        raise ValueError(f"{name}: got an array of shape {seeds.shape}; must be one-dimensional")
    out = [check_int(f"{name}[{i}]", s, minimum=0) for i, s in enumerate(seeds)]
    if not out and not allow_empty:
        raise ValueError(f"{name}: got an empty sequence; need at least one seed")
    return out


def check_callable(name: str, value: Any, what: str) -> Any:
    if not callable(value):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be a callable {what}")
    return value
