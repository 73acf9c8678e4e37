"""Gymnasium spaces to and from JSON (saved models hold no pickles) and space equality."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def space_to_json(space: spaces.Space | None) -> dict[str, Any] | None:
    if space is None:
        return None
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": np.dtype(space.dtype).name,
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": list(space.shape)}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    raise ValueError(
        f"space: {type(space).__name__} cannot be saved; supported: Box, Discrete, MultiDiscrete, "
        "MultiBinary, Dict"
    )


def space_from_json(d: dict[str, Any]) -> spaces.Space:
    kind = d["type"]
    if kind == "Box":
        dtype = np.dtype(d["dtype"])
        return spaces.Box(np.array(d["low"], dtype=dtype), np.array(d["high"], dtype=dtype), dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(d["n"], start=d["start"])
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.array(d["nvec"]), start=np.array(d["start"]))
    if kind == "MultiBinary":
        return spaces.MultiBinary(d["n"])
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(v) for k, v in d["spaces"].items()})
    raise ValueError(f"space: unknown type {kind!r} in a saved model")


def spaces_equal(a: spaces.Space | None, b: spaces.Space | None) -> bool:
    """Same type, shape, dtype and bounds (Box bounds compared with NaN-safe equality)."""
    if a is None or b is None:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, spaces.Box):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a.low, b.low, equal_nan=True)
            and np.array_equal(a.high, b.high, equal_nan=True)
        )
    if isinstance(a, spaces.Dict):
        return list(a.spaces) == list(b.spaces) and all(spaces_equal(a[k], b[k]) for k in a.spaces)
    return a == b
