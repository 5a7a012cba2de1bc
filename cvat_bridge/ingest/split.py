"""The stratified train/val split: per class, deterministic for a seed, both sides non-empty when possible."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

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


def stratified_split(
    items: Sequence[tuple[str, str]], val_ratio: float, seed: int, groups: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Assign each ``(key, label)`` to "train" or "val", class by class.

    The result depends only on the keys, labels, groups, ratio and seed (not on the input order): each
    class's keys are sorted, shuffled with a generator seeded by ``(seed, label)``, and taken for val in that
    order until ``val_count`` is reached. Keys of one group (e.g. identical files) go to the same side, so
    duplicates cannot leak from train into val; without groups each key is its own.
    """
    check_val_ratio(val_ratio)
    groups = groups or {}
    by_label: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for key, label in items:
        by_label[label][groups.get(key, key)].append(key)
    assignment: dict[str, str] = {}
    for label, label_groups in by_label.items():
        members = sorted((sorted(keys) for keys in label_groups.values()), key=lambda keys: keys[0])
        random.Random(f"{seed}:{label}").shuffle(members)
        total = sum(len(keys) for keys in members)
        target, taken = val_count(total, val_ratio), 0
        for keys in members:
            fits = taken + len(keys) <= target or (taken == 0 and target > 0 and len(keys) < total)
            side = VAL if taken < target and fits else TRAIN
            taken += len(keys) if side == VAL else 0
            assignment.update({key: side for key in keys})
    return assignment
