"""An int8 copy of the exported ONNX model, for faster CPU inference (setting `int8`).

ONNX Runtime's static quantization: QDQ format, int8 weights per output channel, uint8 activations whose
ranges come from calibration batches of train images (evaluation transform). The copy is checked on the
validation images against the float model: its accuracy and its top-1 agreement with the float model are
returned for the metrics. Its speed against the float model: bench/predict, figures in the README.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnxruntime
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

CALIBRATION_IMAGES = 64  # enough for stable activation ranges on a small model; more only costs time


class _Batches(CalibrationDataReader):
    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self._batches: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {"input": batch}


def quantize_int8(float_model: Path, path: Path, calibration: Iterable[np.ndarray]) -> None:
    """Write the int8 copy of float_model (input `input`, output `logits`) to path, atomically."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".quantize-") as scratch:
        # Graph optimised and shapes inferred first, as ONNX Runtime advises; its symbolic shape inference is
        # skipped (it fails on swin_t; ONNX's own shape inference is enough for every catalogue model).
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        partial = Path(scratch) / path.name
        quantize_static(
            str(prepared),
            str(partial),
            _Batches(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        partial.replace(path)


def compare_int8(
    path: Path, batches: Iterable[np.ndarray], float_logits: np.ndarray, labels: np.ndarray
) -> dict[str, float]:
    """The int8 model's accuracy on batches (in the order of labels) and its top-1 agreement with the
    float model's logits."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    predicted = np.concatenate([session.run(["logits"], {"input": batch})[0].argmax(1) for batch in batches])
    return {
        "accuracy": float((predicted == labels).mean()),
        "agreement": float((predicted == float_logits.argmax(1)).mean()),
        "size_mb": round(path.stat().st_size / 1e6, 2),
    }
