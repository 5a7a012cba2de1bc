"""The reference: a bare fine-tuning loop as torchvision's references/classification/train.py writes it.

Same model construction (the catalogue's pretrained weights and new head), same evaluation (the serving
preprocessing, `trainer.data.eval_dataset`), nothing else of the service: AdamW on every parameter,
cross-entropy, random-resized crops (+ horizontal flips), cosine schedule stepped per epoch, the last epoch's
weights.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from trainer.catalogue import get_architecture
from trainer.data import ImageDataset, TrainData, eval_dataset
from trainer.metrics import classification_metrics

BATCH_SIZE = 32
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
CROP_SCALE = (0.6, 1.0)


def bare_loop(case, data: TrainData, seed: int, flips: bool) -> dict[str, Any]:
    """Validation accuracy and macro F1 of the last epoch, and the accuracy of its best epoch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    spec = get_architecture(case.architecture)
    model = spec.replace_head(spec.build_pretrained(case.pretrained), len(data.classes))
    preprocessing = spec.preprocessing(case.image_size)
    steps = [
        v2.PILToTensor(),
        v2.RandomResizedCrop(preprocessing.crop_size, scale=CROP_SCALE, antialias=True),
        *([v2.RandomHorizontalFlip()] if flips else []),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(preprocessing.mean), list(preprocessing.std)),
    ]
    loader = DataLoader(
        ImageDataset(data.train, v2.Compose(steps)),
        batch_size=BATCH_SIZE,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        drop_last=len(data.train) > BATCH_SIZE,
    )
    val_loader = DataLoader(eval_dataset(data.val, preprocessing), batch_size=64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=case.epochs)
    accuracies = []
    for _ in range(case.epochs):
        model.train()
        for images, labels in loader:
            loss = nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        metrics = _evaluate(model, val_loader, data.classes)
        accuracies.append(metrics["accuracy"])
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro"]["f1"],
        "best_accuracy": max(accuracies),  # its best epoch on val, chosen on val as the service keeps one
        "note": f"best epoch {int(np.argmax(accuracies)) + 1}: {max(accuracies):.4f}",
    }


@torch.no_grad()
def _evaluate(model: nn.Module, loader: DataLoader, classes: list[str]) -> dict[str, Any]:
    model.eval()
    logits, labels = [], []
    for images, batch_labels in loader:
        logits.append(model(images))
        labels.append(batch_labels)
    return classification_metrics(torch.cat(logits).numpy(), torch.cat(labels).numpy(), classes)
