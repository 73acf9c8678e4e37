"""Word-level vocabularies for the text environments.

The text envs have closed, generated vocabularies (grid symbols and action words for Sokoban;
the catalog's words for WebShop-lite), so a word-level vocabulary built deterministically from
the generators is enough: no downloaded tokenizer, and the same words always get the same ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-case words, numbers (with decimals) and single punctuation / symbol characters."""
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """A fixed word list: id 0 is padding, id 1 unknown words, then the words in sorted order."""

    def __init__(self, words: Iterable[str]) -> None:
        uniq = sorted({w for w in words if w not in (PAD, UNK)})
        self.words: list[str] = [PAD, UNK, *uniq]
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, length: int) -> np.ndarray:
        """Word ids of ``text`` padded (or cut) to ``length``, int64."""
        ids = [self.index.get(w, 1) for w in tokenize(text)][:length]
        out = np.zeros(length, dtype=np.int64)
        out[: len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[int(i)] for i in ids if int(i) != 0)
