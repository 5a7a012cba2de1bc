"""Loading a model folder onto a backend: ONNX Runtime on the CPU, or torch on a CUDA GPU."""

from __future__ import annotations

import glob
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.serving.predictor import Predictor


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when torch sees a CUDA GPU; torch is imported only where an NVIDIA driver is present."""
    if importlib.util.find_spec("torch") is None:
        return False
    if not (os.path.exists("/proc/driver/nvidia/version") or glob.glob("/dev/nvidia[0-9]*")):
        return False
    import torch

    return torch.cuda.is_available()


def load_onnx(model_dir: Path, threads: int) -> Predictor:
    """The model's ONNX file (int8 when it has one) on ONNX Runtime's CPU provider, ``threads`` intra-op."""
    classifier = OnnxClassifier(model_dir, threads=threads)
    backend = "onnxruntime:int8" if classifier.int8 else "onnxruntime"
    return Predictor(classifier.classes, classifier.preprocessing, classifier.predict_batch, backend)


def load_torch(model_dir: Path, device: str = "cuda") -> Predictor:
    """The model's ``weights.pt`` in eager torch on ``device``, exactly as the GPU function runs it."""
    from serverless.torch_classifier import TorchClassifier

    classifier = TorchClassifier(model_dir, device)
    predict = classifier.predict_batch
    return Predictor(classifier.classes, classifier.preprocessing, predict, f"torch:{device}")


def load_predictor(model_dir: Path, threads: int) -> Predictor:
    """Torch on the GPU when there is one, ONNX Runtime on the CPU otherwise."""
    return load_torch(model_dir) if cuda_available() else load_onnx(model_dir, threads)
