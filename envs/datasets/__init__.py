"""Offline datasets made locally: Minari files from rlsuite's own policies, and scripted
preference labels over trajectory segments (extra ``offline`` for Minari: ``minari``, ``pyarrow``).
The MuJoCo datasets at D4RL's five qualities: :mod:`.mujoco` (``rlsuite datasets build``)."""

from .inventory import build_inventory_dataset, noisy_inventory_dataset
from .minari_io import from_minari, minari_root, to_minari
from .mujoco import (
    MUJOCO_DATASET_ENVS,
    QUALITIES,
    build_mujoco_datasets,
    dataset_id,
    train_behaviour_policies,
)
from .preferences import SegmentPreferences, label_segments

__all__ = [
    "MUJOCO_DATASET_ENVS",
    "QUALITIES",
    "SegmentPreferences",
    "build_inventory_dataset",
    "build_mujoco_datasets",
    "dataset_id",
    "from_minari",
    "label_segments",
    "minari_root",
    "noisy_inventory_dataset",
    "to_minari",
    "train_behaviour_policies",
]
