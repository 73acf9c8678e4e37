"""Baselines a learned policy must beat: OR policies, exact solvers and the hindsight oracle for
the inventory networks; scripted experts and a random policy for the text environments."""

from .evaluation import EvalResult, evaluate, from_env, make_vector_env, policy_factory, run_vector_episodes
from .lotsizing_heuristic import CoverSearchResult, LotSizingCoverPolicy
from .lotsizing_milp import HindsightBound, LotSizingMILPResult, hindsight_bound, perfect_information_bound
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
from .solvers import (
    MAX_DP_BYTES,
    LostSalesDPPolicy,
    LostSalesSolution,
    backlog_base_stock,
    lost_sales_dp_size,
    lost_sales_optimal,
)
from .text_experts import (
    EpsilonPolicy,
    RandomTextPolicy,
    SokobanExpert,
    WebShopExpert,
    collect_demonstrations,
    load_demonstrations,
    run_text_episodes,
    save_demonstrations,
)

__all__ = [
    "MAX_DP_BYTES",
    "BaseStockPolicy",
    "ConstantOrderPolicy",
    "CoverSearchResult",
    "EpsilonPolicy",
    "EvalResult",
    "HindsightBound",
    "InventoryPolicy",
    "LevelSearchResult",
    "LostSalesDPPolicy",
    "LostSalesSolution",
    "LotSizingCoverPolicy",
    "LotSizingMILPResult",
    "OraclePlan",
    "OraclePlanPolicy",
    "RandomPolicy",
    "RandomTextPolicy",
    "RollingHorizonLPPolicy",
    "SokobanExpert",
    "StartState",
    "WebShopExpert",
    "backlog_base_stock",
    "collect_demonstrations",
    "episode_demand",
    "evaluate",
    "from_env",
    "hindsight_bound",
    "hindsight_oracle",
    "load_demonstrations",
    "lost_sales_dp_size",
    "lost_sales_optimal",
    "make_vector_env",
    "perfect_information_bound",
    "policy_factory",
    "run_episode",
    "run_text_episodes",
    "run_vector_episodes",
    "save_demonstrations",
    "search_base_stock_levels",
]
