"""Reward shaping that preserves optimal policies: potential-based shaping wrappers.

>>> from rlsuite.shaping import PotentialShaping
>>> env = PotentialShaping(gym.make("Sokoban-v0"), potential=lambda obs: -distance(obs), gamma=0.99)
"""

from .analysis import curve_on_grid, plot_learning_curves, steps_to_threshold, summarize_runs
from .potentials import (
    critic_potential,
    inventory_base_stock_potential,
    locomotion_potential,
    sokoban_potential,
    table_potential,
)
from .tabular import TabularSolution, policy_evaluation, shape_rewards, value_iteration
from .wrappers import BonusShaping, DynamicPotentialShaping, PotentialShaping, VectorPotentialShaping

__all__ = [
    "BonusShaping",
    "DynamicPotentialShaping",
    "PotentialShaping",
    "TabularSolution",
    "VectorPotentialShaping",
    "critic_potential",
    "curve_on_grid",
    "inventory_base_stock_potential",
    "locomotion_potential",
    "plot_learning_curves",
    "policy_evaluation",
    "shape_rewards",
    "sokoban_potential",
    "steps_to_threshold",
    "summarize_runs",
    "table_potential",
    "value_iteration",
]
