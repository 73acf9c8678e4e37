"""rlsuite environments. Importing this module registers every environment id with Gymnasium.

Entry points are strings, so registration imports neither torch nor any optional dependency;
``gym.make("rlsuite:InvMgmt-v0")`` works without importing rlsuite first.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

_INV = "rlsuite.envs.inventory.env:InvMgmtEnv"
_INV_VEC = "rlsuite.envs.inventory.vector:InvMgmtVectorEnv"

INVMGMT_IDS: dict[str, dict[str, Any]] = {
    # gym-invmgmt's divergent network (= OR-Gym NetworkManagement), its defaults.
    "InvMgmt-v0": {"network": "divergent", "backlog": True, "num_periods": 30},
    "InvMgmt-LostSales-v0": {"network": "divergent", "backlog": False, "num_periods": 30},
    # gym-invmgmt's serial chain.
    "InvMgmt-Serial-v0": {"network": "serial", "backlog": True, "num_periods": 30},
    "InvMgmt-Serial-LostSales-v0": {"network": "serial", "backlog": False, "num_periods": 30},
    # HDPO settings (Alvo, Russo, Kanoria): cost minimisation, reward = -cost.
    "InvMgmt-SingleStore-v0": {"network": "single_store", "num_periods": 100},
    "InvMgmt-SingleStore-Backlog-v0": {
        "network": "single_store",
        "backlog": True,
        "demand": {"dist": "normal", "mean": 5.0, "std": 1.6},
        "num_periods": 100,
    },
    "InvMgmt-OneWarehouse-v0": {"network": "one_warehouse", "num_periods": 100},
    "InvMgmt-SerialEchelon-v0": {"network": "serial_echelon", "num_periods": 100},
}


_SOKOBAN = "rlsuite.envs.text.sokoban:SokobanEnv"
SOKOBAN_IDS: dict[str, dict[str, Any]] = {
    # RAGEN's SimpleSokoban (6x6, one box) and larger variants; levels with a shorter optimal
    # solution than min_moves are rejected (difficulty filter).
    "Sokoban-v0": {"dim_room": (6, 6), "num_boxes": 1, "min_moves": 4},
    "Sokoban-6x6-2-v0": {"dim_room": (6, 6), "num_boxes": 2, "min_moves": 5},
    "Sokoban-8x8-2-v0": {"dim_room": (8, 8), "num_boxes": 2, "min_moves": 8},
    "Sokoban-8x8-3-v0": {"dim_room": (8, 8), "num_boxes": 3, "min_moves": 8},
    # VisualSokoban: the same levels as Sokoban-v0 with an RGB image observation.
    "Sokoban-Visual-v0": {"dim_room": (6, 6), "num_boxes": 1, "min_moves": 4, "visual": True},
}


_WEBSHOP = "rlsuite.envs.text.webshop:WebShopEnv"
WEBSHOP_IDS: dict[str, dict[str, Any]] = {
    # 1000 generated products, 3000 goals: test = goals 0-499, validation 500-999, train the rest.
    "WebShop-v0": {"split": "train"},
}


_LOTSIZING = "rlsuite.envs.inventory.lotsizing:LotSizingEnv"
LOTSIZING_IDS: dict[str, dict[str, Any]] = {
    # PDPPO's stochastic discrete lot-sizing (Felizardo et al. 2025): generated instances at the
    # paper's sizes (items x machines), Binomial(20, 0.4) demand, horizon 100.
    "LotSizing-v0": {"n_items": 15, "n_machines": 5, "instance_seed": 0},
    "LotSizing-20x10-v0": {"n_items": 20, "n_machines": 10, "instance_seed": 0},
    "LotSizing-25x10-v0": {"n_items": 25, "n_machines": 10, "instance_seed": 0},
    # A 3-item, 2-machine plant for tests and the exact hindsight MILP.
    "LotSizing-Small-v0": {"n_items": 3, "n_machines": 2, "instance_seed": 0},
}


_GRIDWORLD = "rlsuite.envs.gridworld:GridWorldEnv"
GRIDWORLD_IDS: dict[str, dict[str, Any]] = {
    # Sutton's four rooms, sparse goal reward, 10% slips, exact tabular model (shaping tutorials).
    "GridWorld-v0": {"layout": "four_rooms", "max_steps": 200},
}


_DST = "rlsuite.envs.mo.deep_sea_treasure:DeepSeaTreasureEnv"
_MO_INV = "rlsuite.envs.mo.inventory:MOInvMgmtEnv"
_MO_INV_VEC = "rlsuite.envs.mo.inventory:MOInvMgmtVectorEnv"
MO_IDS: dict[str, dict[str, Any]] = {
    # Multi-objective (MO-Gymnasium's API: reward_space, vector rewards). Deep Sea Treasure, MO-Gymnasium's
    # maps and dynamics: Yang et al.'s treasures (deep-sea-treasure-v0) and Vamplew et al.'s original
    # (deep-sea-treasure-concave-v0); 100-step limit inside the env.
    "DeepSeaTreasure-v0": {"variant": "convex", "max_steps": 100},
    "DeepSeaTreasure-Concave-v0": {"variant": "concave", "max_steps": 100},
    # InvMgmt-v0 with the reward (profit, fill rate, -inventory), each scaled to O(1).
    "MOInvMgmt-v0": {"network": "divergent", "backlog": True, "num_periods": 30},
}
_MO_ENTRY_POINTS: dict[str, tuple[str, str | None]] = {  # (entry point, vector entry point)
    "DeepSeaTreasure-v0": (_DST, None),
    "DeepSeaTreasure-Concave-v0": (_DST, None),
    "MOInvMgmt-v0": (_MO_INV, _MO_INV_VEC),
}


def register_envs() -> None:
    """Register every rlsuite id (idempotent)."""
    for env_id, kwargs in INVMGMT_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=_INV, vector_entry_point=_INV_VEC, kwargs=dict(kwargs))
    for entry_point, ids in (
        (_SOKOBAN, SOKOBAN_IDS),
        (_WEBSHOP, WEBSHOP_IDS),
        (_GRIDWORLD, GRIDWORLD_IDS),
        (_LOTSIZING, LOTSIZING_IDS),
    ):
        for env_id, kwargs in ids.items():
            if env_id not in gym.registry:
                gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))
    # The MO envs enforce the reset/step order themselves and Gymnasium's checker would warn on every
    # vector reward, so gym.make returns the env itself, with reward_space on it.
    for env_id, kwargs in MO_IDS.items():
        if env_id not in gym.registry:
            entry_point, vector_entry_point = _MO_ENTRY_POINTS[env_id]
            gym.register(
                id=env_id,
                entry_point=entry_point,
                vector_entry_point=vector_entry_point,
                kwargs=dict(kwargs),
                order_enforce=False,
                disable_env_checker=True,
            )


register_envs()

__all__ = [
    "GRIDWORLD_IDS",
    "INVMGMT_IDS",
    "LOTSIZING_IDS",
    "MO_IDS",
    "SOKOBAN_IDS",
    "WEBSHOP_IDS",
    "register_envs",
]
