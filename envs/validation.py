"""Checks at the boundary of every rlsuite environment that only environments need: numeric action
arrays, index actions and the episode protocol. The generic checks (bools, integers, reals,
choices, seeds) live in :mod:`rlsuite.validation`; the message style and error types are theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlsuite.validation import ArgumentTypeError, is_int, short_repr


def real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (integer or float dtype, not converted).

    Strings (even ``"5"``), objects, booleans and complex numbers raise ``ArgumentTypeError``;
    a ragged nesting raises ``ValueError``."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: got {short_repr(value)}; cannot be read as an array of numbers") from e
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(
            f"{name}: got {short_repr(value)} (dtype {arr.dtype}); must be real numbers "
            "(integers or floats; not strings, booleans, objects or complex numbers)"
        )
    return arr


def check_index_action(action: Any, n: int, meaning: str = "") -> int:
    """A ``Discrete(n)`` action as an ``int``: a Python or NumPy integer, or an integer array of
    shape ``()`` or ``(1,)``; anything else (floats such as ``1.0``, bools, strings) raises."""
    if is_int(action):
        index = int(action)
    elif isinstance(action, np.ndarray) and action.shape in ((), (1,)) and action.dtype.kind in "iu":
        index = int(action.reshape(()))
    else:
        raise ArgumentTypeError(
            f"action: got {short_repr(action)} ({type(action).__name__}); must be an integer index "
            f"in [0, {n - 1}]{meaning}"
        )
    if not 0 <= index < n:
        raise ValueError(f"action: got {index}; must be an integer index in [0, {n - 1}]{meaning}")
    return index


STEP_BEFORE_RESET = "step() called before reset(); call reset() to start an episode"
STEP_AFTER_END = (
    "step() called after the episode ended (terminated or truncated); call reset() to start a new one"
)


def check_step_allowed(started: bool, ended: bool) -> None:
    """The episode protocol of every rlsuite env: ``step`` needs a ``reset`` first and again after
    the episode ends (terminated or truncated). Raises ``RuntimeError`` otherwise."""
    if not started:
        raise RuntimeError(STEP_BEFORE_RESET)
    if ended:
        raise RuntimeError(STEP_AFTER_END)


__all__ = [
    "STEP_AFTER_END",
    "STEP_BEFORE_RESET",
    "check_index_action",
    "check_step_allowed",
    "real_array",
]
