"""A model folder's ``model.onnx`` on ONNX Runtime: the one inference artifact, served everywhere.

``model.onnx``: input ``input`` float32 NCHW with a dynamic batch, output ``logits``; ``model.int8.onnx``
(the same, quantized) when the model was trained with ``int8``. Providers as CVAT's own ONNX functions choose
them: CUDA first when this ONNX Runtime has the CUDA provider (the ``onnxruntime-gpu`` build), the CPU
otherwise; the int8 model is a CPU speed-up, so CUDA always runs the float model.

    classifier = OnnxClassifier("models/7", threads=1)
    probabilities = classifier.predict_images([open_image("bee.jpg")])   # (1, len(classifier.classes))
    top_k(probabilities[0], classifier.classes, 3)                       # [("bees", 0.93), ("ants", 0.07)]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from .classifier import MODEL_INFO_FILE, classify, label_thresholds, read_model_info
from .imaging import Preprocessing, sigmoid, softmax

ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model.int8.onnx"
MODEL_FILES = (MODEL_INFO_FILE, ONNX_FILE, INT8_ONNX_FILE)  # what it reads of a model folder (int8: if there)
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def cuda_available() -> bool:
    """True when this ONNX Runtime build has the CUDA provider (``onnxruntime-gpu``)."""
    return CUDA in ort.get_available_providers()


class OnnxClassifier:
    """A model folder's ONNX model in one ONNX Runtime session (thread-safe to call); a ``Classifier``.

    ``device``: "auto" (CUDA when the provider is there, else the CPU) or "cpu". On the CPU,
    ``model.int8.onnx`` when the folder has one (its owner asked for the faster quantized model) unless
    ``int8=False``. ``self.device`` says where the session really runs ("cuda" or "cpu": ONNX Runtime falls
    back to the CPU when the CUDA provider cannot start, e.g. on a machine without a GPU).
    """

    def __init__(
        self, model_dir: str | os.PathLike, threads: int = 1, int8: bool = True, device: str = "auto"
    ) -> None:
        if device not in ("auto", "cpu"):
            raise ValueError(f'device must be "auto" or "cpu", not {device!r}')
        info = read_model_info(model_dir)
        self.classes: list[str] = list(info["classes"])
        self.preprocessing = Preprocessing.from_dict(info["preprocessing"])
        self.label_thresholds = label_thresholds(info)
        providers = [CUDA, CPU] if device == "auto" and cuda_available() else [CPU]
        self.int8 = int8 and providers == [CPU] and (Path(model_dir) / INT8_ONNX_FILE).is_file()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        path = Path(model_dir) / (INT8_ONNX_FILE if self.int8 else ONNX_FILE)
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.device = "cuda" if self.session.get_providers()[0] == CUDA else "cpu"

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) of a preprocessed float32 NCHW batch."""
        (logits,) = self.session.run(["logits"], {"input": batch})
        return softmax(logits) if self.label_thresholds is None else sigmoid(logits)

    def predict_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Probabilities (N, classes) of RGB images, in their order."""
        return classify(self, images)
