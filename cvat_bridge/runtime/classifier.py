"""What every classifier offers (``Classifier``), the model folder's ``model.json``, and top-k.

A model folder holds ``model.json`` (``classes``, ``preprocessing``, ``mode``, multi-label ``thresholds``,
...) and the exported model; class index ``i`` of a probability row is ``classes[i]``. A single-label
model's row is a softmax (one class); a multi-label model's holds independent sigmoid scores, each label
decided by its own threshold (chosen on the train split).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from .imaging import Preprocessing, preprocess

MODEL_INFO_FILE = "model.json"


class Classifier(Protocol):
    """A loaded image classifier: its classes, its evaluation preprocessing, and class probabilities."""

    classes: list[str]
    preprocessing: Preprocessing
    label_thresholds: list[float] | None  # multi-label: one threshold per class; None: single-label

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, len(classes)) of a preprocessed float32 NCHW batch."""
        ...


def read_model_info(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The model's ``model.json`` (classes, preprocessing, architecture, ...)."""
    return json.loads((Path(model_dir) / MODEL_INFO_FILE).read_text())


def label_thresholds(info: dict[str, Any]) -> list[float] | None:
    """A multi-label model's per-class thresholds from its model.json (0.5 where one is missing); None for a
    single-label model."""
    if info.get("mode") != "multi":
        return None
    given = info.get("thresholds") or {}
    return [float(given.get(name, 0.5)) for name in info["classes"]]


def labels_above(probabilities: np.ndarray, thresholds: Sequence[float], floor: float = 0.0) -> list[int]:
    """The classes of one multi-label row whose score reaches both its threshold and ``floor``, best
    first."""
    order = np.argsort(-probabilities, kind="stable")
    return [int(i) for i in order if probabilities[i] >= max(thresholds[i], floor)]


def preprocess_batch(images: Sequence[Image.Image], spec: Preprocessing) -> np.ndarray:
    """The float32 NCHW batch of RGB images (see ``imaging.open_image``), preprocessed as in evaluation."""
    return np.stack([preprocess(image, spec) for image in images])


def classify(classifier: Classifier, images: Sequence[Image.Image]) -> np.ndarray:
    """Probabilities (N, classes) of RGB images, in their order, in one batch."""
    return classifier.probabilities(preprocess_batch(images, classifier.preprocessing))


def top_k(probabilities: np.ndarray, classes: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` most likely ``(class, probability)`` pairs of one row, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, k)]
    return [(classes[index], float(probabilities[index])) for index in order]
