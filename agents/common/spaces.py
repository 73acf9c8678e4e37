"""Gymnasium spaces to and from JSON (saved models hold no pickles) and space equality.

Every space type a model can use (Box, Discrete, MultiDiscrete, MultiBinary, Dict, Tuple,
nested in any way) round-trips to an *equal* space. Reading validates what a file says: known
types and dtypes only, at most :data:`MAX_SPACE_ELEMENTS` elements per leaf and
:data:`MAX_SPACE_DEPTH` levels of nesting, so a crafted file cannot make a loader allocate
without bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

#: Largest number of elements (product of the shape) of one Box / MultiDiscrete / MultiBinary.
MAX_SPACE_ELEMENTS = 10_000_000
#: Deepest nesting of Dict / Tuple spaces in a saved model.
MAX_SPACE_DEPTH = 32
_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
}
SPACE_TYPES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple")


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
        return {
            "type": "Discrete",
            "n": int(space.n),
            "start": int(space.start),
            "dtype": np.dtype(space.dtype).name,
        }
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": np.dtype(space.dtype).name,
        }
    if isinstance(space, spaces.MultiBinary):
        # MultiBinary(4) and MultiBinary((4,)) differ (n == 4 vs n == (4,)): keep which one it was.
        return {"type": "MultiBinary", "n": space.n if isinstance(space.n, int) else list(space.n)}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(s) for s in space.spaces]}
    raise ValueError(f"space: {type(space).__name__} cannot be saved; supported: {', '.join(SPACE_TYPES)}")


def space_from_json(d: Any, field: str = "space", _depth: int = 0) -> spaces.Space:
    """The space described by ``d`` (from :func:`space_to_json`). Raises ``ValueError`` naming
    ``field`` (and the path inside nested spaces) for anything malformed."""
    if _depth > MAX_SPACE_DEPTH:
        raise ValueError(f"{field}: nested deeper than {MAX_SPACE_DEPTH} levels")
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise ValueError(f"{field}: got {_short(d)}; expected an object with a 'type'")
    kind = d["type"]
    try:
        if kind == "Box":
            dtype = _dtype(d.get("dtype"), field)
            low, high = _array(d, "low", field, dtype), _array(d, "high", field, dtype)
            shape = tuple(_int_list(d.get("shape", list(low.shape)), f"{field}.shape"))
            if low.shape != shape or high.shape != shape:
                raise ValueError(
                    f"{field}: low/high shapes {low.shape}/{high.shape} differ from shape {shape}"
                )
            return spaces.Box(low, high, shape=shape, dtype=dtype)
        if kind == "Discrete":
            n, start = _int(d.get("n"), f"{field}.n"), _int(d.get("start", 0), f"{field}.start")
            return spaces.Discrete(n, start=start, dtype=_dtype(d.get("dtype", "int64"), field))
        if kind == "MultiDiscrete":
            nvec = _int_array(d.get("nvec"), f"{field}.nvec")
            starts = _int_array(d.get("start", np.zeros_like(nvec).tolist()), f"{field}.start")
            dtype = _dtype(d.get("dtype", "int64"), field)
            return spaces.MultiDiscrete(nvec, start=starts, dtype=dtype)
        if kind == "MultiBinary":
            n_json = d.get("n")
            if isinstance(n_json, list):
                dims = _int_list(n_json, f"{field}.n")
                _check_elements(dims, field)
                return spaces.MultiBinary(dims)
            n = _int(n_json, f"{field}.n")
            _check_elements([n], field)
            return spaces.MultiBinary(n)
        if kind == "Dict":
            subs = d.get("spaces")
            if not isinstance(subs, dict):
                raise ValueError(f"{field}.spaces: got {_short(subs)}; expected an object")
            return spaces.Dict(
                {str(k): space_from_json(v, f"{field}.{k}", _depth + 1) for k, v in subs.items()}
            )
        if kind == "Tuple":
            subs = d.get("spaces")
            if not isinstance(subs, list):
                raise ValueError(f"{field}.spaces: got {_short(subs)}; expected a list")
            return spaces.Tuple(
                tuple(space_from_json(v, f"{field}[{i}]", _depth + 1) for i, v in enumerate(subs))
            )
    except (ValueError, TypeError, AssertionError, OverflowError) as e:  # gymnasium's own checks
        if isinstance(e, ValueError) and str(e).startswith(field):
            raise
        raise ValueError(f"{field}: invalid {kind} space: {e}") from e
    raise ValueError(f"{field}: unknown space type {_short(kind)}; allowed: {list(SPACE_TYPES)}")


def spaces_equal(a: spaces.Space | None, b: spaces.Space | None) -> bool:
    """Same type, shape, dtype and bounds (Box bounds compared exactly, NaN-safe)."""
    if a is None or b is None:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, spaces.Box) and isinstance(b, spaces.Box):  # b: the same type as a
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a.low, b.low, equal_nan=True)
            and np.array_equal(a.high, b.high, equal_nan=True)
        )
    if isinstance(a, spaces.Dict) and isinstance(b, spaces.Dict):
        return list(a.spaces) == list(b.spaces) and all(spaces_equal(a[k], b[k]) for k in a.spaces)
    if isinstance(a, spaces.Tuple) and isinstance(b, spaces.Tuple):
        return len(a.spaces) == len(b.spaces) and all(
            spaces_equal(x, y) for x, y in zip(a.spaces, b.spaces, strict=True)
        )
    return a == b


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _dtype(name: Any, field: str) -> np.dtype:
    if name not in _DTYPES:
        raise ValueError(f"{field}.dtype: got {_short(name)}; allowed: {sorted(_DTYPES)}")
    return np.dtype(name)


def _int(v: Any, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{field}: got {_short(v)}; expected an integer")
    if abs(v) >= 2**63:
        raise ValueError(f"{field}: got {_short(v)}; out of the int64 range")
    return v


def _int_list(v: Any, field: str) -> list[int]:
    if not isinstance(v, list):
        raise ValueError(f"{field}: got {_short(v)}; expected a list of integers")
    return [_int(x, field) for x in v]


def _check_elements(shape: list[int] | tuple[int, ...], field: str) -> None:
    if any(s < 0 for s in shape) or int(np.prod([float(s) for s in shape])) > MAX_SPACE_ELEMENTS:
        raise ValueError(
            f"{field}: shape {list(shape)} is negative or has more than {MAX_SPACE_ELEMENTS} elements"
        )


def _nested_shape(v: Any, field: str) -> list[int]:
    shape = []
    while isinstance(v, list):
        shape.append(len(v))
        if len(shape) > MAX_SPACE_DEPTH:
            raise ValueError(f"{field}: more than {MAX_SPACE_DEPTH} dimensions")
        v = v[0] if v else None
    return shape


def _int_array(v: Any, field: str) -> np.ndarray:
    if not isinstance(v, list):
        raise ValueError(f"{field}: got {_short(v)}; expected a (nested) list of integers")
    _check_elements(_nested_shape(v, field), field)
    arr = np.array(v, dtype=object)
    if arr.dtype != object or (
        arr.size and not all(isinstance(x, int) and not isinstance(x, bool) for x in arr.ravel())
    ):
        raise ValueError(f"{field}: expected a rectangular (nested) list of integers")
    return arr.astype(np.int64)


def _array(d: dict[str, Any], key: str, field: str, dtype: np.dtype) -> np.ndarray:
    v, where = d.get(key), f"{field}.{key}"
    if isinstance(v, list):
        _check_elements(_nested_shape(v, where), where)
    try:
        arr = np.array(v, dtype=object)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: not a rectangular list of numbers ({e})") from e
    if dtype == np.bool_:
        ok = all(isinstance(x, bool) for x in arr.ravel())
    else:
        ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in arr.ravel())
    if not ok:
        raise ValueError(f"{where}: got {_short(v)}; expected a (nested) list of {dtype.name} values")
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if any(not (isinstance(x, int) and info.min <= x <= info.max) for x in arr.ravel()):
            raise ValueError(f"{where}: values must be integers in the range of {dtype.name}")
    return arr.astype(dtype)
