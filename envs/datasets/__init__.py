"""Offline datasets made locally: Minari files from rlsuite's own policies, and scripted
preference labels over trajectory segments (extra ``offline`` for Minari: ``minari``, ``pyarrow``)."""

from .inventory import noisy_inventory_dataset
from .minari_io import from_minari, minari_root, to_minari
from .preferences import SegmentPreferences, label_segments

__all__ = [
    "SegmentPreferences",
    "from_minari",
    "label_segments",
    "minari_root",
    "noisy_inventory_dataset",
    "to_minari",
]
