"""The model's ``weights.pt`` in eager torch on a CUDA device (the GPU function's backend).

Same interface as ``cvat_bridge.runtime.onnx_classifier.OnnxClassifier`` (``classes``,
``predict_images(images) -> probabilities``) and the same preprocessing, from the same code.
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
    def predict_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        batch = torch.from_numpy(preprocess_batch(images, self.preprocessing)).to(self.device)
        return torch.softmax(self.module(batch).float(), dim=1).cpu().numpy()
