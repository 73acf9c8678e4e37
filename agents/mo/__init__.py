"""Multi-objective agents: preference-conditioned and constrained PPO, C-MORL, policy sets."""

from .cmorl import CMORL, MOPolicySet, make_mo_env, train_mo_policy
from .moppo import MOPPO, MOPPOConfig, barrier_penalty, constraint_floor

__all__ = [
    "CMORL",
    "MOPPO",
    "MOPPOConfig",
    "MOPolicySet",
    "barrier_penalty",
    "constraint_floor",
    "make_mo_env",
    "train_mo_policy",
]
