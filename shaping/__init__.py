"""Reward shaping that preserves optimal policies: potential-based shaping wrappers.

>>> from rlsuite.shaping import PotentialShaping
>>> env = PotentialShaping(gym.make("Sokoban-v0"), potential=lambda obs: -distance(obs), gamma=0.99)
"""

from .potentials import (
    critic_potential,
    inventory_base_stock_potential,
    locomotion_potential,
    sokoban_potential,
    table_potential,
)
from .wrappers import BonusShaping, DynamicPotentialShaping, PotentialShaping, VectorPotentialShaping

__all__ = [
    "BonusShaping",
    "DynamicPotentialShaping",
    "PotentialShaping",
    "VectorPotentialShaping",
    "critic_potential",
    "inventory_base_stock_potential",
    "locomotion_potential",
    "sokoban_potential",
    "table_potential",
]
