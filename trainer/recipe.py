"""The fine-tuning recipe that keeps what pretraining learned on small collections.

Three settings (`TrainSettings`), applied only to a pretrained backbone (from scratch, everything learns):
- `warmup_epochs`: the first epochs train the new head only (backbone frozen), so the random head's large
  early gradients never reach the pretrained features;
- `backbone_lr_scale`: afterwards the backbone learns at learning_rate x this (the head at learning_rate);
- `freeze_batchnorm`: BatchNorm layers keep their ImageNet statistics (inference mode) while training; a
  few hundred images' batch statistics are a poor replacement for them.
The plain recipe (every layer at learning_rate from the first step, BatchNorm in training mode) is
warmup_epochs=0, backbone_lr_scale=1, freeze_batchnorm=false.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from trainer.catalogue import classifier_head
from trainer.config import TrainSettings


@dataclass(frozen=True)
class Recipe:
    warmup_epochs: int = 0
    backbone_lr_scale: float = 1.0
    freeze_batchnorm: bool = False

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> Recipe:
        if not settings.pretrained:
            return cls()
        return cls(settings.warmup_epochs, settings.backbone_lr_scale, settings.freeze_batchnorm)

    def prepare(self, model: nn.Module) -> None:
        """Freeze BatchNorm statistics when asked (they stay frozen whatever `model.train()` says)."""
        if self.freeze_batchnorm:
            for module in model.modules():
                if isinstance(module, _BatchNorm):
                    module.register_forward_pre_hook(_inference_mode)

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


def _inference_mode(module: nn.Module, _inputs: tuple) -> None:
    module.train(False)
