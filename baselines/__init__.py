"""Baselines a learned policy must beat: OR policies (more arrive with the baselines issue)."""

from .policies import BaseStockPolicy, ConstantOrderPolicy, InventoryPolicy, RandomPolicy, run_episode

__all__ = ["BaseStockPolicy", "ConstantOrderPolicy", "InventoryPolicy", "RandomPolicy", "run_episode"]
