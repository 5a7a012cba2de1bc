"""The files of a trained model (see ARCHITECTURE.md, "Model artifacts") and loading it back in torch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: the API lists artifact names without it
    import torch
    from torch import nn

MODEL_JSON = "model.json"
WEIGHTS = "weights.pt"
CHECKPOINT = "checkpoint.pt"
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"  # with the `int8` setting only
METRICS = "metrics.json"
HISTORY = "history.json"
CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "training_curves.png"
PER_CLASS_PNG = "per_class_metrics.png"
SPLIT = "split.json"

# What serving reads (the API's predictor, the Nuclio function): model.int8.onnx only where it was made.
SERVED = (MODEL_JSON, ONNX, ONNX_INT8, WEIGHTS)

# Downloadable artifacts and their media types.
ARTIFACTS: dict[str, str] = {
    MODEL_JSON: "application/json",
    WEIGHTS: "application/octet-stream",
    CHECKPOINT: "application/octet-stream",
    ONNX: "application/octet-stream",
    ONNX_INT8: "application/octet-stream",
    METRICS: "application/json",
    HISTORY: "application/json",
    CONFUSION_PNG: "image/png",
    CURVES_PNG: "image/png",
    PER_CLASS_PNG: "image/png",
    SPLIT: "application/json",
}


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2))
    os.replace(partial, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def save_torch(obj: Any, path: Path) -> None:
    import torch

    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def read_model_info(model_dir: Path) -> dict[str, Any]:
    return read_json(Path(model_dir) / MODEL_JSON)


def load_torch_model(
    model_dir: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """The trained model (best epoch's weights) in eval mode on device, and its model.json."""
    import torch

    from trainer.catalogue import get_architecture

    model_dir = Path(model_dir)
    info = read_model_info(model_dir)
    model = get_architecture(info["architecture"]).build(len(info["classes"]), pretrained=False)
    state = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), info
