"""Cross-fitted predictions on the train split, for choosing multi-label decision thresholds.

A model's predictions on its own train images are over-confident: thresholds that maximise F1 there sit in
gaps that validation images do not respect. Cross-fitting splits the train split into k folds (iterative
stratification, seeded); for each fold a model trained like the run on the other folds, for the epochs the
run kept, predicts the fold it never saw. Thresholds chosen on these out-of-fold predictions are then applied
to the run's own model (bench/multilabel measures the difference).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from trainer.data import TrainData
from trainer.stratify import iterative_stratification

FoldModel = Callable[[TrainData], np.ndarray]  # trains on data.train, returns its logits on data.val


def fold_of_each_image(data: TrainData, folds: int, seed: int) -> list[int]:
    """The fold (0..folds-1) of each train image, every fold taking its share of every label."""
    items = [
        (str(index), [name for name, value in zip(data.classes, target, strict=True) if value > 0.5])
        for index, (_, target) in enumerate(data.train)
    ]
    sides = iterative_stratification(items, {str(fold): 1 / folds for fold in range(folds)}, seed)
    return [int(sides[str(index)]) for index in range(len(data.train))]


def out_of_fold_logits(
    data: TrainData,
    folds: int,
    seed: int,
    fold_model: FoldModel,
    starting: Callable[[int], None] = lambda _: None,
) -> np.ndarray:
    """Logits for every train image from the fold model that did not train on it (``starting(fold)`` before
    each)."""
    fold_of = fold_of_each_image(data, folds, seed)
    logits = np.zeros((len(data.train), len(data.classes)), dtype=np.float32)
    for fold in range(folds):
        held = [index for index, f in enumerate(fold_of) if f == fold]
        if not held:
            continue
        starting(fold)
        part = dataclasses.replace(
            data,
            train=[sample for sample, f in zip(data.train, fold_of, strict=True) if f != fold],
            val=[data.train[index] for index in held],
            test=[],
        )
        logits[held] = fold_model(part)
    return logits
