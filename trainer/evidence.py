"""What a training run learns about its own train split before it trains, to choose its recipe.

One no-gradient pass over the train images (evaluation transform) yields, per image, the features a linear
head would see: the pretrained backbone's (the input of its classifier head), or for a model trained from
scratch a 16x16 thumbnail of the normalised pixels. For a spread of the images it also yields the features of
the mirrored image. From these:
- the linear probe (trainer.probe) fits a head on the features;
- `mirror_test` tells whether mirroring keeps the classes: a linear classifier fitted on the features of some
  images (cross-validated) is asked to classify held-out images mirrored. Digits, letters, arrows or oriented
  textures lose much of their accuracy mirrored (a 2 mirrored is no 2); photos of ants or bees keep it. Flips
  are left out of the augmentation where mirroring loses accuracy.
Validation images are never looked at.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from trainer.probe import FOLDS, fit_feature_probe, stratified_folds

if TYPE_CHECKING:
    from trainer.engine import Device

MIRRORED_IMAGES = 1000  # images mirrored for the test at most (a spread over the train split)
PIXEL_GRID = 16  # thumbnail side of the pixel features of a model trained from scratch
# Mirroring changes the classes when the classifier gets significantly more held-out images right as they are
# than mirrored (McNemar's test on the paired answers, z > SIGNIFICANT_Z) and the net loss is material: more
# than MATERIAL_LOSS of its skill above chance. Measured in bench/quality: photos and shapes lose nothing;
# 62 letters and digits lose 9% of their skill on backbone features, digits 60% on pixels, textures 26%.
# Below MIN_SKILL above chance the features cannot tell: flips stay on, which is right on average.
SIGNIFICANT_Z = 2.0
MATERIAL_LOSS = 0.03
MIN_SKILL = 0.15


@dataclass(frozen=True)
class TrainEvidence:
    """Features of every train image (in loader order), their labels, and the features of a spread of the
    images mirrored (`mirrored_index`: their positions)."""

    features: torch.Tensor
    labels: torch.Tensor
    mirrored: torch.Tensor
    mirrored_index: torch.Tensor
    source: str  # "backbone" or "pixels"


@dataclass(frozen=True)
class MirrorTest:
    """A linear classifier's answers on held-out train images as they are and mirrored: how many it gets
    right, and how many it gets right only as they are or only mirrored."""

    total: int
    correct: int
    only_original: int
    only_mirrored: int
    chance: float
    source: str

    @property
    def accuracy(self) -> float:
        return self.correct / self.total

    @property
    def mirrored_accuracy(self) -> float:
        return (self.correct - self.only_original + self.only_mirrored) / self.total

    @property
    def keeps_classes(self) -> bool:
        skill = self.accuracy - self.chance
        if skill < MIN_SKILL:
            return True
        lost = self.only_original - self.only_mirrored
        significant = lost > SIGNIFICANT_Z * math.sqrt(self.only_original + self.only_mirrored)
        return not (significant and lost / self.total > MATERIAL_LOSS * skill)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.source,
            "accuracy": round(self.accuracy, 4),
            "mirrored_accuracy": round(self.mirrored_accuracy, 4),
            "keeps_classes": self.keeps_classes,
        }


@torch.no_grad()
def gather_evidence(
    model: nn.Module | None,
    head: nn.Linear | None,
    loader: torch.utils.data.DataLoader,
    device: Device,
    check_cancelled: Callable[[], None],
) -> TrainEvidence:
    """One pass over loader (evaluation transform, not shuffled): the features `head` sees in `model`
    (float32), or pixel thumbnails when model is None; mirrored features for every k-th batch."""
    every = max(1, len(loader.dataset) // MIRRORED_IMAGES)  # mirror every k-th batch
    captured: list[torch.Tensor] = []
    hook = None
    if model is not None and head is not None:
        model.eval()
        hook = head.register_forward_pre_hook(lambda _module, inputs: captured.append(inputs[0].float()))
    features, mirrored, mirrored_index, all_labels = [], [], [], []
    seen = 0
    try:
        for batch, (images, labels) in enumerate(loader):
            images, labels = device.put(images, labels)
            features.append(_features(model, images, device, captured))
            if batch % every == 0:
                mirrored.append(_features(model, images.flip(-1), device, captured))
                mirrored_index.append(torch.arange(seen, seen + len(labels)))
            all_labels.append(labels)
            seen += len(labels)
            check_cancelled()
    finally:
        if hook is not None:
            hook.remove()
    return TrainEvidence(
        torch.cat(features),
        torch.cat(all_labels),
        torch.cat(mirrored),
        torch.cat(mirrored_index).to(features[0].device),
        "backbone" if model is not None else "pixels",
    )


def _features(
    model: nn.Module | None, images: torch.Tensor, device: Device, captured: list[torch.Tensor]
) -> torch.Tensor:
    if model is None:
        return nn.functional.adaptive_avg_pool2d(images.float(), PIXEL_GRID).flatten(1)
    with device.autocast():
        model(images)
    return captured.pop()


def mirror_test(evidence: TrainEvidence, classes: int) -> MirrorTest:
    """Cross-validated (FOLDS, stratified) answers on held-out images, as they are and mirrored."""
    features = _standardised(evidence.features)
    mirrored = _standardised(evidence.mirrored, like=evidence.features)
    labels = evidence.labels
    folds = stratified_folds(labels, FOLDS)
    held_out_folds = folds[evidence.mirrored_index]
    mirrored_labels = labels[evidence.mirrored_index]
    right, right_mirrored = [], []
    for fold in range(FOLDS):
        held_out = held_out_folds == fold
        if not held_out.any():
            continue
        weight, bias = fit_feature_probe(features[folds != fold], labels[folds != fold], classes)
        originals = features[evidence.mirrored_index[held_out]]
        right.append((originals @ weight.T + bias).argmax(1) == mirrored_labels[held_out])
        right_mirrored.append((mirrored[held_out] @ weight.T + bias).argmax(1) == mirrored_labels[held_out])
    as_is, flipped = torch.cat(right), torch.cat(right_mirrored)
    return MirrorTest(
        total=len(as_is),
        correct=int(as_is.sum()),
        only_original=int((as_is & ~flipped).sum()),
        only_mirrored=int((flipped & ~as_is).sum()),
        chance=float(labels.bincount().max()) / len(labels),  # always answering the largest class
        source=evidence.source,
    )


def _standardised(features: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    reference = features if like is None else like
    return (features - reference.mean(0)) / (reference.std(0) + 1e-6)
