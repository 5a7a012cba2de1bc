"""The model's ``weights.pt`` in eager torch on a CUDA device (the GPU function's backend).

Same interface as ``cvat_bridge.runtime.onnx_classifier.OnnxClassifier`` (``classes``,
``preprocessing``, ``predict_batch``, ``predict_images(images) -> probabilities``) and the same
preprocessing, from the same code.
The service's own torch backend (``cvat_bridge.serving.backends.load_torch``) uses this class too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from cvat_bridge.runtime.imaging import Preprocessing
from cvat_bridge.runtime.onnx_classifier import preprocess_batch
from trainer.artifacts import load_torch_model


class TorchClassifier:
    def __init__(self, model_dir: str | os.PathLike, device: str = "cuda") -> None:
        self.device = torch.device(device)
        self.module, info = load_torch_model(model_dir, self.device)
        self.classes: list[str] = list(info["classes"])
        self.preprocessing = Preprocessing.from_dict(info["preprocessing"])

    @torch.inference_mode()
    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, C) of a preprocessed float32 NCHW batch."""
        logits = self.module(torch.from_numpy(batch).to(self.device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def predict_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.predict_batch(preprocess_batch(images, self.preprocessing))
