"""Text-agent environments: Sokoban and WebShop-lite, self-contained and deterministic per seed.

``Sokoban-v0`` (and sized / visual variants) and ``WebShop-v0`` (``split="train" | "validation" |
"test"``). Both follow one observation contract (a ``Dict`` with ``tokens``, ``action_mask`` and
``action_tokens``; the action is an index into ``info["admissible_actions"]``), carry the text
and the admissible action strings in ``info``, and ship a scripted expert.
"""

from .protocol import ExpertSpeaker, TextActionWrapper, group_seeds, normalize_action, parse_actions
from .sokoban import ACTIONS, SYMBOLS, Level, SokobanEnv, generate_level, is_deadlocked, solve, step_level
from .vocab import Vocabulary, tokenize
from .webshop import Catalog, Goal, Product, WebShopEnv, generate_catalog, reward

__all__ = [
    "ACTIONS",
    "SYMBOLS",
    "Catalog",
    "ExpertSpeaker",
    "Goal",
    "Level",
    "Product",
    "SokobanEnv",
    "TextActionWrapper",
    "Vocabulary",
    "WebShopEnv",
    "generate_catalog",
    "generate_level",
    "group_seeds",
    "is_deadlocked",
    "normalize_action",
    "parse_actions",
    "reward",
    "solve",
    "step_level",
    "tokenize",
]
