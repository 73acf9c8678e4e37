"""Baselines a learned policy must beat: OR policies and exact solvers."""

from .policies import BaseStockPolicy, ConstantOrderPolicy, InventoryPolicy, RandomPolicy, run_episode
from .solvers import LostSalesDPPolicy, LostSalesSolution, backlog_base_stock, lost_sales_optimal

__all__ = [
    "BaseStockPolicy",
    "ConstantOrderPolicy",
    "InventoryPolicy",
    "LostSalesDPPolicy",
    "LostSalesSolution",
    "RandomPolicy",
    "backlog_base_stock",
    "lost_sales_optimal",
    "run_episode",
]
