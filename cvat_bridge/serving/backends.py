"""Loading a model folder for serving: its ``model.onnx`` on ONNX Runtime, the CUDA provider when this
machine's ONNX Runtime has it (``onnxruntime-gpu``), the CPU provider otherwise."""

from __future__ import annotations

from pathlib import Path

from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.serving.predictor import Predictor


def load_predictor(model_dir: Path, threads: int, device: str = "auto") -> Predictor:
    """The model's ONNX file on the GPU when there is one (``device="auto"``), else on the CPU with
    ``threads`` intra-op threads (the int8 file when the model has one)."""
    classifier = OnnxClassifier(model_dir, threads=threads, device=device)
    backend = "onnxruntime:cuda" if classifier.device == "cuda" else "onnxruntime"
    return Predictor(classifier, backend + (":int8" if classifier.int8 else ""))
