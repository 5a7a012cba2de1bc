"""Multi-label collections: modes, label lists, the iterative stratified split (Sechidis, Tsoumakas and
Vlahavas, 2011) and the doctor's label statistics.

An image of a multi-label collection carries a set of labels (one or more); its ``Image.label`` row holds the
first of them (sorted), ``Image.labels`` all.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from cvat_bridge.ingest.split import SPLITS, TRAIN, VAL, check_val_ratio
from trainer.stratify import iterative_stratification

SINGLE, MULTI = "single", "multi"
MODES = (SINGLE, MULTI)
_SEPARATORS = re.compile(r"[;|]")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def split_labels(text: str) -> tuple[str, ...]:
    """``"night; outdoor|wet"`` -> ``("night", "outdoor", "wet")`` (sorted, distinct, blanks dropped)."""
    return tuple(sorted({part.strip() for part in _SEPARATORS.split(text) if part.strip()}))


def iterative_split(
    items: Sequence[tuple[str, Sequence[str]]],
    val_ratio: float,
    seed: int,
    groups: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Assign each ``(key, labels)`` to "train" or "val" by iterative stratification (a group of identical
    files moves as one; see ``trainer.stratify``)."""
    check_val_ratio(val_ratio)
    return iterative_stratification(items, {TRAIN: 1.0 - val_ratio, VAL: val_ratio}, seed, groups)


def label_counts(
    images: Sequence[tuple[str, Sequence[str]]], classes: Sequence[str]
) -> dict[str, dict[str, int]]:
    """``{split: {label: images carrying it}}`` from ``(split, labels)`` pairs; train and val always,
    test when it has images."""
    counts: dict[str, Counter[str]] = {}
    for split, labels in images:
        counts.setdefault(split, Counter()).update(labels)
    present = [split for split in SPLITS if split in (TRAIN, VAL) or split in counts]
    return {split: {label: counts.get(split, Counter())[label] for label in classes} for split in present}


def doctor_report(images: Sequence[tuple[str, Sequence[str]]], classes: Sequence[str]) -> dict[str, Any]:
    """Label cardinality (mean labels per image), images per number of labels, images per label, and the
    labels that never occur in val (their metrics cannot be measured)."""
    per_split = label_counts(images, classes)
    sizes = Counter(len(labels) for _, labels in images)
    total = sum(len(labels) for _, labels in images)
    overall = Counter(label for _, labels in images for label in labels)
    return {
        "cardinality": round(total / len(images), 4) if images else 0.0,
        "images_per_label_count": {str(n): sizes[n] for n in sorted(sizes)},
        "per_label": {label: overall[label] for label in classes},
        "labels_not_in_val": [label for label in classes if per_split[VAL][label] == 0],
    }
