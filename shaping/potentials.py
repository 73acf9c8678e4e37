"""Potentials for the suite's environments, to pass to :class:`PotentialShaping`.

Each returns a callable ``Phi(obs)`` (or ``Phi(obs, info)``); larger is better (closer to the
goal), and shaping then rewards moving up the potential.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rlsuite.validation import check_callable, check_real


def inventory_base_stock_potential(
    env: Any, levels: Any = None, scale: float = 1.0
) -> Callable[[Any], float]:
    """``Phi(s) = -scale * sum_j |IP_j(s) - S_j|``: how far each node's inventory position is from
    its base-stock level (default: the newsvendor levels of ``env``'s network). Accepts one observation
    (returns a float) or a batch ``[B, obs_dim]`` (returns an array, for :class:`VectorPotentialShaping`)."""
    from rlsuite.baselines import BaseStockPolicy

    scale = check_real("scale", scale)
    rule = (
        BaseStockPolicy.newsvendor(env) if levels is None else BaseStockPolicy(env, np.asarray(levels, float))
    )
    target = rule.levels

    def phi(obs: Any) -> Any:
        o = np.asarray(obs, dtype=np.float64)
        value = -scale * np.abs(rule.position(o.reshape(-1, o.shape[-1])) - target).sum(-1)
        return value if o.ndim == 2 else float(value[0])

    phi.levels = target  # type: ignore[attr-defined]
    return phi


def sokoban_potential(scale: float = 1.0) -> Callable[[Any], float]:
    """``Phi(s) = -scale * (sum over boxes of the Manhattan distance to the nearest target)``,
    read from the ``grid`` observation (0 when every box is on a target)."""
    from rlsuite.envs.text.sokoban import Level

    scale = check_real("scale", scale)

    def phi(obs: Any) -> float:
        level = Level.from_grid(np.asarray(obs["grid"]))
        targets = np.argwhere(level.targets)
        total = 0
        for r, c in level.boxes:
            total += int(np.min(np.abs(targets[:, 0] - r) + np.abs(targets[:, 1] - c)))
        return -scale * float(total)

    return phi


def locomotion_potential(weight: float = 1.0, key: str = "x_position") -> Callable[[Any, dict], float]:
    """``Phi(s) = weight * x`` for MuJoCo locomotion (``info["x_position"]`` of the v5 envs): shaping
    then pays ``gamma * x' - x`` (forward progress), a potential-based cousin of the forward reward."""
    weight = check_real("weight", weight)
    if not isinstance(key, str):
        raise TypeError(f"key: got {key!r}; must be a string (an info key)")

    def phi(obs: Any, info: dict[str, Any]) -> float:
        if key not in info:
            raise ValueError(f"potential: info has no {key!r}; available: {sorted(info)}")
        return weight * float(info[key])

    return phi


def critic_potential(model: Any, scale: float = 1.0) -> Callable[[Any], float]:
    """``Phi(s) = scale * V(s)`` from a trained agent's critic (any rlsuite on-policy agent): the
    learned value as a potential (e.g. from a run on a related task)."""
    scale = check_real("scale", scale)
    for attr in ("obs_to_tensor", "normalize_obs", "policy"):
        if not hasattr(model, attr):
            raise TypeError(f"model: got {type(model).__name__}; must be an rlsuite on-policy agent")

    def phi(obs: Any) -> float:
        with torch.no_grad():
            o = model.obs_to_tensor(obs)
            o = {k: v.unsqueeze(0) for k, v in o.items()} if isinstance(o, dict) else o.unsqueeze(0)
            return scale * float(model.policy.predict_values(model.normalize_obs(o))[0])

    return phi


def table_potential(values: Any, index: Callable[[Any], Any] = lambda obs: obs) -> Callable[[Any], float]:
    """``Phi(s) = values[index(obs)]``: a solver's value table as a potential (e.g. value
    iteration on a tabular model)."""
    try:
        table = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"values: got {values!r:.60}; must be an array of numbers") from e
    if table.size == 0 or not np.all(np.isfinite(table)):
        raise ValueError("values: must be a non-empty table of finite numbers")
    check_callable("index", index, "obs -> table index")

    def phi(obs: Any) -> float:
        return float(table[index(obs)])

    return phi
