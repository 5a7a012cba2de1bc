"""An exported classifier on ONNX Runtime: its classes, its preprocessing and class probabilities.

Depends on NumPy, ONNX Runtime and ``.imaging`` only (this folder is copied into Nuclio functions).
A model folder holds ``model.json`` (``classes``, ``preprocessing``) and ``model.onnx`` (input ``input``:
float32 NCHW with a dynamic batch; output ``logits``), and ``model.int8.onnx`` (the same, quantized) when the
model was trained with ``int8``.

    classifier = OnnxClassifier("models/7", threads=1)
    probabilities = classifier.predict_images([open_image("bee.jpg")])   # (1, len(classifier.classes))
    top_k(probabilities[0], classifier.classes, 3)                       # [("bees", 0.93), ("ants", 0.07)]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from .imaging import Preprocessing, preprocess, softmax

MODEL_INFO_FILE = "model.json"
ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model.int8.onnx"


def read_model_info(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The model's ``model.json`` (classes, preprocessing, architecture, ...)."""
    return json.loads((Path(model_dir) / MODEL_INFO_FILE).read_text())


def preprocess_batch(images: Sequence[Image.Image], spec: Preprocessing) -> np.ndarray:
    """The float32 NCHW batch of RGB images (see ``imaging.open_image``), preprocessed as in evaluation."""
    return np.stack([preprocess(image, spec) for image in images])


def top_k(probabilities: np.ndarray, classes: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` most likely ``(class, probability)`` pairs of one row, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[: max(1, k)]
    return [(classes[index], float(probabilities[index])) for index in order]


class OnnxClassifier:
    """A model folder's ONNX model in an ONNX Runtime session on the CPU (thread-safe to call).

    ``model.int8.onnx`` when the folder has one (the model was trained with ``int8``: its owner asked for
    the faster quantized model), else ``model.onnx``; ``int8=False`` takes ``model.onnx`` in any case.
    """

    def __init__(self, model_dir: str | os.PathLike, threads: int = 1, int8: bool = True) -> None:
        info = read_model_info(model_dir)
        self.classes: list[str] = list(info["classes"])
        self.preprocessing = Preprocessing.from_dict(info["preprocessing"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.int8 = int8 and (Path(model_dir) / INT8_ONNX_FILE).is_file()
        path = Path(model_dir) / (INT8_ONNX_FILE if self.int8 else ONNX_FILE)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) of a preprocessed float32 NCHW batch."""
        (logits,) = self.session.run(["logits"], {"input": batch})
        return softmax(logits)

    def predict_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Probabilities (N, classes) of RGB images, in their order."""
        return self.predict_batch(preprocess_batch(images, self.preprocessing))
