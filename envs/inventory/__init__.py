"""Multi-echelon inventory networks: spec, batched torch core, and its Gymnasium views.

>>> import gymnasium as gym, rlsuite
>>> env = gym.make("InvMgmt-v0")

See :mod:`rlsuite.envs.inventory.core` for the event order and cost accounting.
"""

from .base_stock import BaseStockRule, base_stock_orders, critical_ratio, newsvendor_level
from .core import COST_INDEX, COST_NAMES, InventoryCore, InventoryState, PostDecisionState, StepInfo
from .demand import DemandSampler
from .env import InvMgmtEnv
from .lotsizing import LotSizingEnv, LotSizingSpec, make_lotsizing_spec
from .spec import DemandSpec, Link, MarketLink, NetworkSpec, Node, as_spec, demand_from_config
from .vector import InvMgmtVectorEnv

__all__ = [
    "COST_INDEX",
    "COST_NAMES",
    "BaseStockRule",
    "DemandSampler",
    "DemandSpec",
    "InvMgmtEnv",
    "InvMgmtVectorEnv",
    "InventoryCore",
    "InventoryState",
    "Link",
    "LotSizingEnv",
    "LotSizingSpec",
    "MarketLink",
    "NetworkSpec",
    "Node",
    "PostDecisionState",
    "StepInfo",
    "as_spec",
    "base_stock_orders",
    "critical_ratio",
    "demand_from_config",
    "make_lotsizing_spec",
    "newsvendor_level",
]
