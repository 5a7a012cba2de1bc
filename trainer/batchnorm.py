"""BatchNorm statistics re-estimated on the train images after training ("precise BN", Wu & Johnson 2021).

Running statistics are moving averages over augmented training batches: after few steps (torchvision's
momentum is 0.01 in MobileNetV3) they still hold much of their initial values, and a model that learnt well
scores at chance in evaluation mode. One no-gradient pass over the train images (evaluation transform)
replaces them with their exact averages. The run keeps whichever statistics give the lower evaluation-mode
loss on the train images: evidence from the train split, never from validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

if TYPE_CHECKING:
    from trainer.engine import Device


@dataclass(frozen=True)
class Recalibration:
    train_loss_as_trained: float
    train_loss_reestimated: float

    @property
    def kept(self) -> bool:
        return self.train_loss_reestimated < self.train_loss_as_trained

    def to_dict(self) -> dict[str, float | str]:
        return {
            "statistics": "re-estimated" if self.kept else "as trained",
            "train_loss_as_trained": round(self.train_loss_as_trained, 4),
            "train_loss_reestimated": round(self.train_loss_reestimated, 4),
        }


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    return [layer for layer in model.modules() if isinstance(layer, _BatchNorm) and layer.track_running_stats]


def recalibrate(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    device: Device,
    check_cancelled: Callable[[], None] = lambda: None,
) -> Recalibration | None:
    """Re-estimate model's BatchNorm statistics on loader's images and keep them where they lower the
    evaluation-mode loss on those images (None: the model has no BatchNorm). Leaves model in eval mode."""
    layers = batchnorm_layers(model)
    if not layers:
        return None
    before = _mean_loss(model, loader, device, check_cancelled)
    saved = [(layer.running_mean.clone(), layer.running_var.clone(), layer.momentum) for layer in layers]
    _reestimate(model, layers, loader, device, check_cancelled)
    result = Recalibration(before, _mean_loss(model, loader, device, check_cancelled))
    if not result.kept:
        for layer, (mean, var, _) in zip(layers, saved, strict=True):
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
    for layer, (_, _, momentum) in zip(layers, saved, strict=True):
        layer.momentum = momentum
    return result


@torch.no_grad()
def _reestimate(
    model: nn.Module,
    layers: list[_BatchNorm],
    loader: torch.utils.data.DataLoader,
    device: Device,
    check_cancelled: Callable[[], None],
) -> None:
    """Cumulative averages over loader (momentum None). Only BatchNorm layers in training mode: dropout and
    stochastic depth stay off, so the statistics are those of the network as it is evaluated."""
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
        layer.train()
    for images, _ in loader:
        if len(images) < 2:  # one image has no batch statistics where a feature map is 1x1
            continue
        images = images.to(device.device, non_blocking=True, memory_format=device.memory_format)
        with device.autocast():
            model(images)
        check_cancelled()
    model.eval()


@torch.no_grad()
def _mean_loss(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    device: Device,
    check_cancelled: Callable[[], None],
) -> float:
    model.eval()
    total, count = 0.0, 0
    for images, labels in loader:
        images, labels = device.put(images, labels)
        with device.autocast():
            logits = model(images).float()
        total += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        count += len(labels)
        check_cancelled()
    return total / max(count, 1)
