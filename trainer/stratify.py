"""Iterative stratification of multi-label items (Sechidis, Tsoumakas and Vlahavas, 2011) in pure Python,
shared by the service's collection import (a train/val split) and the trainer's cross-fitted thresholds
(k folds)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence


def iterative_stratification(
    items: Sequence[tuple[str, Sequence[str]]],
    ratios: Mapping[str, float],
    seed: int,
    groups: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Assign each ``(key, labels)`` to one of ``ratios``' sides, each side taking its share of every label.

    The label with the fewest unassigned images goes first; each of its images (a group of keys moves as one)
    goes to the side that wants that label most, then the side that wants more images, then a seeded coin.
    Deterministic for the keys, labels, groups, ratios and seed, whatever the input order.
    """
    groups = groups or {}
    members: dict[str, list[str]] = defaultdict(list)
    unit_labels: dict[str, set[str]] = defaultdict(set)
    for key, labels in items:
        unit = groups.get(key, key)
        members[unit].append(key)
        unit_labels[unit].update(labels)
    rng = random.Random(f"iterative:{seed}")
    units = sorted(members, key=lambda unit: min(members[unit]))
    rng.shuffle(units)
    size = {unit: len(members[unit]) for unit in units}
    wanted = {side: ratio * sum(size.values()) for side, ratio in ratios.items()}
    label_totals: Counter[str] = Counter()
    for unit in units:
        for label in unit_labels[unit]:
            label_totals[label] += size[unit]
    wanted_label = {
        side: {label: ratio * n for label, n in label_totals.items()} for side, ratio in ratios.items()
    }
    remaining = dict(label_totals)
    unassigned = set(units)
    assignment: dict[str, str] = {}

    def place(unit: str, side: str) -> None:
        unassigned.discard(unit)
        wanted[side] -= size[unit]
        for label in unit_labels[unit]:
            wanted_label[side][label] -= size[unit]
            remaining[label] -= size[unit]
        assignment.update({key: side for key in members[unit]})

    while any(remaining.get(label, 0) > 0 for label in remaining):
        label = min((n, name) for name, n in remaining.items() if n > 0)[1]
        for unit in [unit for unit in units if unit in unassigned and label in unit_labels[unit]]:
            side = max(ratios, key=lambda s: (wanted_label[s][label], wanted[s], rng.random()))
            place(unit, side)
    for unit in [unit for unit in units if unit in unassigned]:  # images without labels
        place(unit, max(ratios, key=lambda s: (wanted[s], rng.random())))
    return assignment
