"""A loaded model that turns RGB images into predictions: a label (or none below a threshold) and top-k;
multi-label models: every label above its threshold, and top-k."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cvat_bridge.runtime.classifier import Classifier, preprocess_batch
from cvat_bridge.runtime.classifier import top_k as ranked_classes
from cvat_bridge.runtime.tags import frame_tags

BATCH_SIZE = 16  # images per forward pass; bounds memory for long lists


@dataclass(frozen=True)
class ClassScore:
    label: str
    confidence: float


@dataclass(frozen=True)
class Prediction:
    """The most likely class (``label`` None when its confidence is below the threshold) and the top k."""

    label: str | None
    confidence: float
    top_k: list[ClassScore]
    labels: list[ClassScore] | None = None  # multi-label: every label above its threshold, best first

    def to_dict(self) -> dict:
        """The API's answer for one image (by hand: ``dataclasses.asdict`` deep-copies, far slower):
        ``{"label", "confidence", "top_k"}``; multi-label ``{"labels", "top_k"}``."""
        top_k = [{"label": score.label, "confidence": score.confidence} for score in self.top_k]
        if self.labels is not None:
            return {
                "labels": [{"label": s.label, "confidence": s.confidence} for s in self.labels],
                "top_k": top_k,
            }
        return {"label": self.label, "confidence": self.confidence, "top_k": top_k}


class Predictor:
    """A runtime ``Classifier`` (ONNX Runtime) answering the API: labels under a threshold, top-k."""

    def __init__(self, classifier: Classifier, backend: str) -> None:
        self.classes = list(classifier.classes)
        self.preprocessing = classifier.preprocessing
        self.backend = backend  # "onnxruntime" | "onnxruntime:int8" | "onnxruntime:cuda"
        self.label_thresholds = classifier.label_thresholds
        self._probabilities = classifier.probabilities

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Class probabilities (N, classes) of RGB images (see ``runtime.imaging.open_image``)."""
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        chunks = [
            self._probabilities(preprocess_batch(images[start : start + BATCH_SIZE], self.preprocessing))
            for start in range(0, len(images), BATCH_SIZE)
        ]
        return np.concatenate(chunks)

    def predict(
        self, images: Sequence[Image.Image], top_k: int = 5, threshold: float = 0.0
    ) -> list[Prediction]:
        """One prediction per image, in order; ``top_k`` is capped at the number of classes."""
        return self._predictions(self.probabilities(images), top_k, threshold)

    def predict_inputs(self, inputs: np.ndarray, top_k: int = 5, threshold: float = 0.0) -> list[Prediction]:
        """As ``predict``, for model inputs already preprocessed (``serving.inputs.read_inputs``)."""
        chunks = [
            self._probabilities(inputs[start : start + BATCH_SIZE])
            for start in range(0, len(inputs), BATCH_SIZE)
        ]
        probabilities = np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes)), np.float32)
        return self._predictions(probabilities, top_k, threshold)

    def _predictions(self, probabilities: np.ndarray, k: int, threshold: float) -> list[Prediction]:
        return [self._prediction(row, k, threshold) for row in probabilities]

    def _prediction(self, row: np.ndarray, k: int, threshold: float) -> Prediction:
        ranked = [ClassScore(label, confidence) for label, confidence in ranked_classes(row, self.classes, k)]
        best = ranked[0]
        if self.label_thresholds is not None:
            tags = frame_tags(row, self.classes, threshold, self.label_thresholds)
            labels = [ClassScore(tag.label, tag.confidence) for tag in tags]
            return Prediction(labels[0].label if labels else None, best.confidence, ranked, labels)
        return Prediction(best.label if best.confidence >= threshold else None, best.confidence, ranked)
