"""Baselines a learned policy must beat: OR policies, exact solvers and the hindsight oracle."""

from .evaluation import EvalResult, evaluate, from_env, policy_factory
from .oracle import (
    OraclePlan,
    OraclePlanPolicy,
    RollingHorizonLPPolicy,
    StartState,
    episode_demand,
    hindsight_oracle,
)
from .policies import BaseStockPolicy, ConstantOrderPolicy, InventoryPolicy, RandomPolicy, run_episode
from .search import LevelSearchResult, search_base_stock_levels
from .solvers import LostSalesDPPolicy, LostSalesSolution, backlog_base_stock, lost_sales_optimal

__all__ = [
    "BaseStockPolicy",
    "ConstantOrderPolicy",
    "EvalResult",
    "InventoryPolicy",
    "LevelSearchResult",
    "LostSalesDPPolicy",
    "LostSalesSolution",
    "OraclePlan",
    "OraclePlanPolicy",
    "RandomPolicy",
    "RollingHorizonLPPolicy",
    "StartState",
    "backlog_base_stock",
    "episode_demand",
    "evaluate",
    "from_env",
    "hindsight_oracle",
    "lost_sales_optimal",
    "policy_factory",
    "run_episode",
    "search_base_stock_levels",
]
