"""rlsuite: Gymnasium environments paired with torch agents and strong OR baselines.

``import rlsuite`` registers every environment id (``gym.make("InvMgmt-v0")``); it imports
neither torch-geometric, pettingzoo, mujoco nor tensorboard.
"""

from typing import Any

from rlsuite import envs
from rlsuite._version import __version__


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """Evaluate policies on common random numbers: see :func:`rlsuite.baselines.evaluation.evaluate`."""
    from rlsuite.baselines.evaluation import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


__all__ = ["__version__", "envs", "evaluate"]
