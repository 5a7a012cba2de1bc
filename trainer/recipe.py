"""The fine-tuning recipe that keeps what pretraining learned on small collections.

Four settings (`TrainSettings`), applied only to a pretrained backbone (from scratch, everything learns):
- `head_init`: "probe" fits the new head to convergence on the frozen backbone's features of the train images
  (evaluation transform, one no-grad pass, then `trainer.probe` on the cached features) before any training:
  LP-FT (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features"); "random" keeps the random head;
- `warmup_epochs`: the first epochs train the new head only (backbone frozen), so the random head's large
  early gradients never reach the pretrained features;
- `backbone_lr_scale`: afterwards the backbone learns at learning_rate x this (the head at learning_rate);
- `freeze_batchnorm`: BatchNorm layers keep their ImageNet statistics (inference mode) while training; a
  few hundred images' batch statistics are a poor replacement for them.
The plain recipe (every layer at learning_rate from the first step, BatchNorm in training mode) is
head_init="random", warmup_epochs=0, backbone_lr_scale=1, freeze_batchnorm=false.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from trainer.catalogue import classifier_head
from trainer.config import TrainSettings
from trainer.probe import ProbeChoice, fit_probe_head

if TYPE_CHECKING:
    from trainer.engine import Device


@dataclass(frozen=True)
class Recipe:
    head_init: Literal["probe", "random"] = "random"
    warmup_epochs: int = 0
    backbone_lr_scale: float = 1.0
    freeze_batchnorm: bool = False

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> Recipe:
        if not settings.pretrained:
            return cls()
        return cls(
            settings.head_init, settings.warmup_epochs, settings.backbone_lr_scale, settings.freeze_batchnorm
        )

    def prepare(self, model: nn.Module) -> None:
        """Freeze BatchNorm statistics when asked (they stay frozen whatever `model.train()` says)."""
        if self.freeze_batchnorm:
            for module in model.modules():
                if isinstance(module, _BatchNorm):
                    module.register_forward_pre_hook(_inference_mode)

    def init_head(
        self,
        model: nn.Module,
        loader: torch.utils.data.DataLoader,
        device: Device,
        class_weights: torch.Tensor | None = None,
        check_cancelled: Callable[[], None] = lambda: None,
        pretrained_head: nn.Linear | None = None,
    ) -> ProbeChoice | None:
        """With head_init="probe": the head fitted on the frozen features of loader (evaluation transform),
        a candidate head built on pretrained_head (the backbone's own pretrained classifier) included.

        Deterministic for given weights and images, so every process of a distributed training fits the same
        head (and DDP copies rank 0's anyway when it wraps the model).
        """
        if self.head_init != "probe":
            return None
        head = classifier_head(model)
        features, labels = _head_inputs(model, head, loader, device, check_cancelled)
        choice = fit_probe_head(features, labels, head.out_features, class_weights, pretrained_head)
        with torch.no_grad():
            head.weight.copy_(choice.weight)
            head.bias.copy_(choice.bias)
        return choice

    def param_groups(self, model: nn.Module, learning_rate: float) -> list[dict[str, Any]]:
        """Optimizer groups: the head at learning_rate, the backbone at learning_rate x backbone_lr_scale."""
        head = {id(parameter) for parameter in classifier_head(model).parameters()}
        return [
            {"params": [p for p in model.parameters() if id(p) in head], "lr": learning_rate},
            {
                "params": [p for p in model.parameters() if id(p) not in head],
                "lr": learning_rate * self.backbone_lr_scale,
            },
        ]

    def start_epoch(self, model: nn.Module, epoch: int) -> None:
        """Backbone frozen during the warm-up epochs (and when its learning rate is 0), trainable after."""
        trainable = epoch > self.warmup_epochs and self.backbone_lr_scale > 0
        head = {id(parameter) for parameter in classifier_head(model).parameters()}
        for parameter in model.parameters():
            parameter.requires_grad_(trainable or id(parameter) in head)


@torch.no_grad()
def _head_inputs(
    model: nn.Module,
    head: nn.Linear,
    loader: torch.utils.data.DataLoader,
    device: Device,
    check_cancelled: Callable[[], None],
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the head sees (float32) for every sample of loader, and their labels."""
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _module, inputs: captured.append(inputs[0].float()))
    model.eval()
    all_labels = []
    try:
        for images, labels in loader:
            images, labels = device.put(images, labels)
            with device.autocast():
                model(images)
            all_labels.append(labels)
            check_cancelled()
    finally:
        hook.remove()
    return torch.cat(captured), torch.cat(all_labels)


def _inference_mode(module: nn.Module, _inputs: tuple) -> None:
    module.train(False)
