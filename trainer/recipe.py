"""The fine-tuning recipe: plain fine-tuning by default, with choices the run makes from its own train split.

Chosen on a varied suite (bench/quality: photos, digits, letters, an imbalanced set, textures), never on one
dataset. The defaults (`TrainSettings`):
- every layer learns at the learning rate from the first step, BatchNorm in training mode (plain);
- `linear_probe` (pretrained only): a linear head fitted on the frozen features of the train images
  (trainer.probe) is the "epoch 0" candidate: on a small collection of classes the pretraining knew, nothing
  fine-tuned beats it, and it is kept; fine-tuning itself starts from a random head (`head_init`), which
  measured better than starting from the probe's (LP-FT) wherever fine-tuning wins;
- `flips` "auto": horizontal flips only where the train images show that mirroring keeps the classes
  (trainer.evidence.mirror_test).
The older recipe's parts stay available as settings: `head_init="probe"` (LP-FT, Kumar et al. 2022),
`warmup_epochs` (head-only epochs), `backbone_lr_scale`, `freeze_batchnorm` (ImageNet statistics kept): each
measured worse on average (README, "Training quality").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from trainer.config import TrainSettings
from trainer.evidence import MirrorTest, TrainEvidence, mirror_test
from trainer.heads import classifier_head
from trainer.probe import ProbeChoice, fit_probe_head


@dataclass(frozen=True)
class Recipe:
    linear_probe: bool = False
    head_init: Literal["probe", "random"] = "random"
    warmup_epochs: int = 0
    backbone_lr_scale: float = 1.0
    freeze_batchnorm: bool = False
    flips: Literal["auto", "on", "off"] = "auto"

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> Recipe:
        if not settings.pretrained:  # from scratch, everything learns from the start
            return cls(flips=settings.flips)
        return cls(
            settings.linear_probe,
            settings.head_init,
            settings.warmup_epochs,
            settings.backbone_lr_scale,
            settings.freeze_batchnorm,
            settings.flips,
        )

    @property
    def probes(self) -> bool:
        return self.linear_probe or self.head_init == "probe"

    @property
    def needs_evidence(self) -> bool:
        """Whether the run looks at its train images before training (probe head, flips decision)."""
        return self.probes or self.flips == "auto"

    def prepare(self, model: nn.Module) -> None:
        """BatchNorm statistics frozen when asked, and while a layer's parameters do not learn (warm-up):
        they stay frozen whatever `model.train()` says, so a head fitted in evaluation mode keeps seeing the
        features it was fitted on."""
        hook = _inference_mode if self.freeze_batchnorm else _inference_mode_while_frozen
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                module.register_forward_pre_hook(hook)

    def choose_flips(self, evidence: TrainEvidence | None, classes: int) -> tuple[bool, MirrorTest | None]:
        """Whether the augmentation mirrors images, and the test that decided it ("auto")."""
        if self.flips != "auto" or evidence is None:
            return self.flips != "off", None
        test = mirror_test(evidence, classes)
        return test.keeps_classes, test

    def fit_probe(
        self,
        evidence: TrainEvidence | None,
        classes: int,
        class_weights: torch.Tensor | None,
        pretrained_head: nn.Linear | None,
        check_cancelled: Callable[[], None] = lambda: None,
    ) -> ProbeChoice | None:
        """The linear probe's head on the backbone features of the train images (None: no probe)."""
        if not self.probes or evidence is None or evidence.source != "backbone":
            return None
        return fit_probe_head(
            evidence.features, evidence.labels, classes, class_weights, pretrained_head, check_cancelled
        )

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


def _inference_mode_while_frozen(module: nn.Module, _inputs: tuple) -> None:
    if module.weight is not None and not module.weight.requires_grad:
        module.train(False)
