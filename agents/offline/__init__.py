"""Offline RL: learners that train from a fixed :class:`~..common.datasets.TransitionDataset`,
without an env (IQL, AWAC), on the offline seam of :mod:`rlsuite.agents.common.offline`.

>>> from rlsuite.agents.offline import IQL
>>> model = IQL("MlpPolicy", dataset, seed=0).learn(100_000)   # gradient steps
"""

from .awac import AWAC, AWACConfig, awac_weights
from .base import OfflineActorCritic, OfflineActorCriticConfig, return_range_scale, td_target
from .iql import IQL, IQLConfig, advantage_weights, expectile_loss
from .networks import AWACPolicy, IQLPolicy, OfflineActorCriticPolicy
from .reward_model import PreferenceRewardModel, bradley_terry_loss, relabel_rewards, train_reward_model

__all__ = [
    "AWAC",
    "IQL",
    "AWACConfig",
    "AWACPolicy",
    "IQLConfig",
    "IQLPolicy",
    "OfflineActorCritic",
    "OfflineActorCriticConfig",
    "OfflineActorCriticPolicy",
    "PreferenceRewardModel",
    "advantage_weights",
    "awac_weights",
    "bradley_terry_loss",
    "expectile_loss",
    "relabel_rewards",
    "return_range_scale",
    "td_target",
    "train_reward_model",
]
