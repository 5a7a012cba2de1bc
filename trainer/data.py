"""Samples -> tensors: images read with the collection's normalisation (`runtime.imaging.open_image`),
augmented for training, preprocessed for evaluation exactly as serving does (`runtime.imaging.preprocess`)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler
from torchvision.transforms import v2

from cvat_bridge.runtime.imaging import Preprocessing, open_image, preprocess
from trainer.multilabel import MULTI, SINGLE, multi_hot

SPLITS = ("train", "val", "test")

Sample = tuple[str, Any]  # (image path, class index; multi-label: float32 multi-hot vector over the classes)
AUTO_WORKERS_FROM = 1000  # below this many training images, loading in the main process is faster


@dataclass(frozen=True)
class TrainData:
    """A collection's samples for training: class names, and (path, class index) per split."""

    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    root: str | None = None  # the collection's folder: predictions.json names images relative to it
    mode: str = SINGLE  # "multi": labels are multi-hot vectors (trainer/multilabel.py)


def train_data(
    classes: list[str], samples: dict[str, list[tuple[Any, Any]]], mode: str = SINGLE, root: str | None = None
) -> TrainData:
    """TrainData from ``{split: [(path, label or tuple of labels)]}`` (the collection's stored split)."""
    index = {label: position for position, label in enumerate(classes)}

    def target(label: Any) -> Any:
        return multi_hot(label, classes) if mode == MULTI else index[label]

    rows = {split: [(str(path), target(label)) for path, label in samples.get(split, [])] for split in SPLITS}
    return TrainData(classes=classes, root=root, mode=mode, **rows)


class ImageDataset(Dataset):
    """Samples read with ``open_image`` (``min_short_side``: see there) and transformed to tensors."""

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Callable[[Image.Image], torch.Tensor],
        min_short_side: int | None = None,
    ) -> None:
        self.samples = samples
        self.transform = transform
        self.min_short_side = min_short_side

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(open_image(path, min_short_side=self.min_short_side)), label


def eval_dataset(samples: Sequence[Sample], spec: Preprocessing) -> ImageDataset:
    """Samples read and preprocessed exactly as serving reads and preprocesses an upload."""
    return ImageDataset(samples, EvalTransform(spec), spec.resize_size)


class EvalTransform:
    """The serving preprocessing, as a tensor. A class, not a closure: loader workers started by spawn or
    forkserver receive the dataset (and so its transform) pickled."""

    def __init__(self, spec: Preprocessing) -> None:
        self.spec = spec

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(preprocess(image, self.spec))


def train_transform(
    spec: Preprocessing, level: str, flips: bool = True
) -> Callable[[Image.Image], torch.Tensor]:
    """Augmentation by level: none (the eval transform), light (random-resized crop, + horizontal flip when
    flips), strong (+ TrivialAugment)."""
    if level == "none":
        return EvalTransform(spec)
    interpolation = v2.InterpolationMode(spec.interpolation)
    scale = (0.6, 1.0) if level == "light" else (0.25, 1.0)
    steps: list[Callable] = [
        v2.PILToTensor(),
        v2.RandomResizedCrop(spec.crop_size, scale=scale, interpolation=interpolation, antialias=True),
        *([v2.RandomHorizontalFlip()] if flips else []),
    ]
    if level == "strong":
        steps.append(v2.TrivialAugmentWide(interpolation=interpolation))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(spec.mean), list(spec.std))]
    return v2.Compose(steps)


def class_weights(samples: Sequence[Sample], num_classes: int, power: float = 0.5) -> torch.Tensor:
    """Inverse-frequency weights to the given power (1.0 for a balanced set); classes without samples get 0.

    The loss uses the square root: full inverse frequency (power 1) over-predicts rare classes and cost
    accuracy in bench/quality's imbalanced case; the balancing sampler uses power 1."""
    counts = Counter(label for _, label in samples)
    total = len(samples)
    return torch.tensor(
        [(total / (num_classes * counts[c])) ** power if counts[c] else 0.0 for c in range(num_classes)],
        dtype=torch.float32,
    )


def train_sampler(
    samples: Sequence[Sample], num_classes: int, balanced: bool, generator: torch.Generator
) -> Sampler | None:
    """A class-balancing sampler when asked; None means plain shuffling."""
    if not balanced:
        return None
    weights = class_weights(samples, num_classes, power=1.0)
    per_sample = torch.tensor([float(weights[label]) for _, label in samples], dtype=torch.double)
    return WeightedRandomSampler(per_sample, num_samples=len(samples), replacement=True, generator=generator)


def resolve_workers(requested: int | None, num_train: int) -> int:
    if requested is not None:
        return requested
    return 0 if num_train < AUTO_WORKERS_FROM else min(8, os.cpu_count() or 1)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    *,
    shuffle: bool = False,
    sampler: Sampler | None = None,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=pin_memory,
        drop_last=drop_last,
    )
