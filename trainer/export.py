"""ONNX export (input `input` NCHW float32 with a dynamic batch, output `logits`), checked against torch."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainer import artifacts

OPSET = 17
TOLERANCE = 1e-3  # max abs difference of logits, relative to their scale


class ExportMismatch(RuntimeError):
    """The ONNX model's outputs differ from torch's on the same inputs."""


def export_onnx(model: nn.Module, inputs: torch.Tensor, path: Path) -> float:
    """Export a float32 CPU copy of model to path; returns the max abs logit difference on inputs.

    Uses the TorchScript exporter (dynamo=False): offline, fast, and exact for the catalogue's CNNs/ViTs.
    """
    import onnxruntime

    model = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format).eval()
    inputs = inputs.float().cpu().contiguous()
    with artifacts.writing(path) as partial:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (inputs[:1],),
                str(partial),
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        session = onnxruntime.InferenceSession(str(partial), providers=["CPUExecutionProvider"])
        onnx_logits = session.run(["logits"], {"input": inputs.numpy()})[0]
        with torch.no_grad():
            torch_logits = model(inputs).numpy()
        difference = float(np.abs(onnx_logits - torch_logits).max())
        if difference > TOLERANCE * max(1.0, float(np.abs(torch_logits).max())):
            raise ExportMismatch(f"ONNX export differs from torch by {difference:.3g} on real inputs")
    return difference
