"""Offline RL: learners that train from a fixed :class:`~..common.datasets.TransitionDataset`,
without an env (IQL, AWAC, OPPO from segment preferences), on the offline seam of
:mod:`rlsuite.agents.common.offline`, and offline-to-online (FamO2O; :func:`finetune_online` for
the others).

>>> from rlsuite.agents.offline import IQL
>>> model = IQL("MlpPolicy", dataset, seed=0).learn(100_000)   # gradient steps
"""

from .awac import AWAC, AWACConfig, awac_weights
from .base import OfflineActorCritic, OfflineActorCriticConfig, return_range_scale, td_target
from .famo2o import FamO2O, FamO2OConfig, FamO2OPolicy, balance_to_beta, beta_embedding
from .iql import IQL, IQLConfig, advantage_weights, expectile_loss
from .networks import AWACPolicy, IQLPolicy, OfflineActorCriticPolicy
from .online import ReplayBuffer, finetune_online
from .oppo import OPPO, OPPOConfig, OPPOPolicy, SegmentEncoder, oppo_triplet_loss
from .reward_model import PreferenceRewardModel, bradley_terry_loss, relabel_rewards, train_reward_model

__all__ = [
    "AWAC",
    "IQL",
    "OPPO",
    "AWACConfig",
    "AWACPolicy",
    "FamO2O",
    "FamO2OConfig",
    "FamO2OPolicy",
    "IQLConfig",
    "IQLPolicy",
    "OPPOConfig",
    "OPPOPolicy",
    "OfflineActorCritic",
    "OfflineActorCriticConfig",
    "OfflineActorCriticPolicy",
    "PreferenceRewardModel",
    "ReplayBuffer",
    "SegmentEncoder",
    "advantage_weights",
    "awac_weights",
    "balance_to_beta",
    "beta_embedding",
    "bradley_terry_loss",
    "expectile_loss",
    "finetune_online",
    "oppo_triplet_loss",
    "relabel_rewards",
    "return_range_scale",
    "td_target",
    "train_reward_model",
]
