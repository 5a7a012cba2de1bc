"""The stratified train/val split: per class, deterministic for a seed, both sides non-empty when possible."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence

TRAIN, VAL, TEST = "train", "val", "test"
SPLITS = (TRAIN, VAL, TEST)


def check_val_ratio(val_ratio: float) -> None:
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio must be between 0 and 1 (exclusive), got {val_ratio}")


def val_count(num_images: int, val_ratio: float) -> int:
    """How many of a class's images go to val: n x ratio rounded half up, at least 1 and at most n-1 when
    n >= 2 (a class of one image trains)."""
    if num_images < 2:
        return 0
    return min(num_images - 1, max(1, math.floor(num_images * val_ratio + 0.5)))


def stratified_split(items: Sequence[tuple[str, str]], val_ratio: float, seed: int) -> dict[str, str]:
    """Assign each ``(key, label)`` to "train" or "val", class by class.

    The result depends only on the keys, labels, ratio and seed (not on the input order): each class's keys
    are sorted, shuffled with a generator seeded by ``(seed, label)``, and the first ``val_count`` go to val.
    """
    check_val_ratio(val_ratio)
    by_label: dict[str, list[str]] = defaultdict(list)
    for key, label in items:
        by_label[label].append(key)
    assignment: dict[str, str] = {}
    for label, keys in by_label.items():
        keys.sort()
        random.Random(f"{seed}:{label}").shuffle(keys)
        cut = val_count(len(keys), val_ratio)
        assignment.update({key: VAL for key in keys[:cut]})
        assignment.update({key: TRAIN for key in keys[cut:]})
    return assignment
