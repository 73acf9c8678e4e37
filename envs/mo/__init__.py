"""Multi-objective environments with MO-Gymnasium's API: a ``reward_space`` Box of shape ``(k,)`` and a
``float32`` reward vector ``[k]`` from ``step``.

- ``DeepSeaTreasure-v0`` and ``DeepSeaTreasure-Concave-v0``: :class:`DeepSeaTreasureEnv`, 2 objectives,
  its exact front ``env.pareto_front(gamma)``.
"""

from .deep_sea_treasure import DeepSeaTreasureEnv

__all__ = [
    "DeepSeaTreasureEnv",
]
