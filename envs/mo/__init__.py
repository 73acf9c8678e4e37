"""Multi-objective environments with MO-Gymnasium's API: a ``reward_space`` Box of shape ``(k,)`` and a
``float32`` reward vector ``[k]`` from ``step``.

- ``DeepSeaTreasure-v0`` and ``DeepSeaTreasure-Concave-v0``: :class:`DeepSeaTreasureEnv`, 2 objectives,
  its exact front ``env.pareto_front(gamma)``.
- ``MOInvMgmt-v0``: :class:`MOInvMgmtEnv` and the native :class:`MOInvMgmtVectorEnv`
  (``gym.make_vec``), 3 objectives (profit, fill rate, inventory) over the InvMgmt simulator.
- MuJoCo tasks through MO-Gymnasium (extra ``mo``): :func:`make_mo` (in :mod:`.mujoco`, which
  imports mo-gymnasium only when called).
"""

from .deep_sea_treasure import DeepSeaTreasureEnv
from .inventory import MOInvMgmtEnv, MOInvMgmtVectorEnv
from .mujoco import MO_MUJOCO_IDS, ExposeRewardSpace, make_mo

__all__ = [
    "MO_MUJOCO_IDS",
    "DeepSeaTreasureEnv",
    "ExposeRewardSpace",
    "MOInvMgmtEnv",
    "MOInvMgmtVectorEnv",
    "make_mo",
]
