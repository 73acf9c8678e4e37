"""rlsuite: Gymnasium environments paired with torch agents and strong OR baselines.

``import rlsuite`` registers every environment id (``gym.make("InvMgmt-v0")``); it imports
neither torch-geometric, pettingzoo, mujoco nor tensorboard.
"""

from rlsuite import envs
from rlsuite._version import __version__

__all__ = ["__version__", "envs"]
