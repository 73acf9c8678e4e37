"""rlsuite learning algorithms with Stable-Baselines3's public surface.

>>> from rlsuite.agents import PPO
>>> model = PPO("MlpPolicy", "CartPole-v1", seed=0).learn(50_000)
"""

from .alignment import DPO, DRO, QRPO, RPO
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
from .common.logged import LoggedTrajectories, SampledPolicy, collect_logged_trajectories, reference_scores
from .common.logger import Logger, configure
from .common.schedules import linear_schedule
from .common.text_policies import TextChoicePolicy, TextFeaturesExtractor, behavior_cloning
from .gbpo import GBPO
from .grpo import GRPO, RLOO
from .hdpo import HDPO
from .inventory_policies import BaseStockParamPolicy, GNNPolicy, InventoryMlpPolicy, InventoryPolicyNet
from .offline import AWAC, IQL, OPPO, FamO2O
from .oprl import OPRL
from .pdppo import PDPPO
from .ppo import PPO

__all__ = [
    "AWAC",
    "BPO",
    "DPO",
    "DRO",
    "GBPO",
    "GRPO",
    "HDPO",
    "IQL",
    "OPPO",
    "OPRL",
    "PDPPO",
    "PPO",
    "QRPO",
    "RLOO",
    "RPO",
    "BaseCallback",
    "BaseStockParamPolicy",
    "CallbackList",
    "CausalLMPolicy",
    "CheckpointCallback",
    "EpisodeRecorder",
    "EvalCallback",
    "FamO2O",
    "GNNPolicy",
    "InventoryMlpPolicy",
    "InventoryPolicyNet",
    "LoggedTrajectories",
    "Logger",
    "ProgressBarCallback",
    "SampledPolicy",
    "StopTrainingOnRewardThreshold",
    "TextChoicePolicy",
    "TextFeaturesExtractor",
    "behavior_cloning",
    "collect_logged_trajectories",
    "configure",
    "evaluate_policy",
    "linear_schedule",
    "reference_scores",
]
