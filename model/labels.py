"""The seven FER-2013 emotion labels, in the order of the original CSV release.

The order is part of the model contract: a saved model records the labels it was trained
with, and `model.bundle.load` refuses a model whose labels differ from these, so an index
can never silently mean a different emotion in training and in the bot.
"""

from __future__ import annotations

LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABELS)}
NUM_CLASSES = len(LABELS)


def label_index(name: str) -> int:
    """Index of a label name (case-insensitive); raises ValueError naming the bad label."""
    key = name.strip().lower()
    if key not in LABEL_INDEX:
        raise ValueError(f"unknown emotion label {name!r}; expected one of {', '.join(LABELS)}")
    return LABEL_INDEX[key]
