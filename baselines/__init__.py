"""Baselines a learned policy must beat: OR policies, exact solvers and the hindsight oracle."""

from .oracle import OraclePlan, OraclePlanPolicy, episode_demand, hindsight_oracle
from .policies import BaseStockPolicy, ConstantOrderPolicy, InventoryPolicy, RandomPolicy, run_episode
from .solvers import LostSalesDPPolicy, LostSalesSolution, backlog_base_stock, lost_sales_optimal

__all__ = [
    "BaseStockPolicy",
    "ConstantOrderPolicy",
    "InventoryPolicy",
    "LostSalesDPPolicy",
    "LostSalesSolution",
    "OraclePlan",
    "OraclePlanPolicy",
    "RandomPolicy",
    "backlog_base_stock",
    "episode_demand",
    "hindsight_oracle",
    "lost_sales_optimal",
    "run_episode",
]
