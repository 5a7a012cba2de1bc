"""What every classifier offers (``Classifier``), the model folder's ``model.json``, and top-k.

A model folder holds ``model.json`` (``classes``, ``preprocessing``, ...) and the exported model; class index
``i`` of a probability row is ``classes[i]``.
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

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, len(classes)) of a preprocessed float32 NCHW batch."""
        ...


def read_model_info(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The model's ``model.json`` (classes, preprocessing, architecture, ...)."""
    return json.loads((Path(model_dir) / MODEL_INFO_FILE).read_text())


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
