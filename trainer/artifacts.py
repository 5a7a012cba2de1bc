"""The files of a trained model (see ARCHITECTURE.md, "Model artifacts") and loading it back in torch."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
PREDICTIONS = "predictions.json"

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
    PREDICTIONS: "application/json",
}


# Asked before every artifact write and rename (see guard_writes); raising stops the write.
_write_guard: Callable[[], None] | None = None
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def guard_writes(check: Callable[[], None]) -> Iterator[None]:
    """Within the block, call check() before each write of an artifact (a job checks it still holds its
    claim: a worker that was reaped must not write over a failed job's files)."""
    global _write_guard
    previous, _write_guard = _write_guard, check
    try:
        yield
    finally:
        _write_guard = previous


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """Write path atomically: the block writes the yielded partial file, renamed to path when it ends. On
    any error the partial file is removed; a full disk raises OSError(ENOSPC) naming path."""
    partial = path.with_name(path.name + ".partial")
    _check_guard()
    try:
        yield partial
        _check_guard()
        os.replace(partial, path)
    except BaseException as exc:
        full = _is_full(exc, partial)
        partial.unlink(missing_ok=True)
        if full:
            raise OSError(errno.ENOSPC, "no space left on device", str(path)) from exc
        raise


def _check_guard() -> None:
    if _write_guard is not None:
        _write_guard()


def _is_full(exc: BaseException, partial: Path) -> bool:
    """A write failed for want of space (some writers, e.g. torch.onnx.export, do not say so: then a file
    system with no space left is taken as the reason)."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_DISK
    if type(exc) is not RuntimeError:  # what torch's C++ writers raise
        return False
    try:
        stats = os.statvfs(partial.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024**2


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    with writing(path) as partial:
        partial.write_text(json.dumps(data, indent=2))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def save_torch(obj: Any, path: Path) -> None:
    import torch

    with writing(path) as partial, open(partial, "wb") as file:  # a file object: a full disk is an OSError
        torch.save(obj, file)


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
