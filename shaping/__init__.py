"""Reward shaping that preserves optimal policies: potential-based shaping wrappers.

>>> from rlsuite.shaping import PotentialShaping
>>> env = PotentialShaping(gym.make("Sokoban-v0"), potential=lambda obs: -distance(obs), gamma=0.99)
"""

from .wrappers import PotentialShaping, VectorPotentialShaping

__all__ = ["PotentialShaping", "VectorPotentialShaping"]
