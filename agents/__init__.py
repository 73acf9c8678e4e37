"""rlsuite learning algorithms with Stable-Baselines3's public surface.

>>> from rlsuite.agents import PPO
>>> model = PPO("MlpPolicy", "CartPole-v1", seed=0).learn(50_000)
"""

from .bpo import BPO
from .common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EpisodeRecorder,
    EvalCallback,
    ProgressBarCallback,
    StopTrainingOnRewardThreshold,
    evaluate_policy,
)
from .common.lm_policy import CausalLMPolicy
from .common.logger import Logger, configure
from .common.schedules import linear_schedule
from .common.text_policies import TextChoicePolicy, TextFeaturesExtractor, behavior_cloning
from .gbpo import GBPO
from .grpo import GRPO, RLOO
from .hdpo import HDPO
from .inventory_policies import BaseStockParamPolicy, GNNPolicy, InventoryMlpPolicy, InventoryPolicyNet
from .oprl import OPRL
from .pdppo import PDPPO
from .ppo import PPO

__all__ = [
    "BPO",
    "GBPO",
    "GRPO",
    "HDPO",
    "OPRL",
    "PDPPO",
    "PPO",
    "RLOO",
    "BaseCallback",
    "BaseStockParamPolicy",
    "CallbackList",
    "CausalLMPolicy",
    "CheckpointCallback",
    "EpisodeRecorder",
    "EvalCallback",
    "GNNPolicy",
    "InventoryMlpPolicy",
    "InventoryPolicyNet",
    "Logger",
    "ProgressBarCallback",
    "StopTrainingOnRewardThreshold",
    "TextChoicePolicy",
    "TextFeaturesExtractor",
    "behavior_cloning",
    "configure",
    "evaluate_policy",
    "linear_schedule",
]
