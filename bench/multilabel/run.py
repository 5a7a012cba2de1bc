"""Multi-label quality: the service's training against a bare torchvision BCE loop on one generated set.

The set: images of 2-4 coloured shapes each, drawn from a fixed vocabulary of colour-shape labels with
uneven frequencies, split 70/30 by the service's iterative stratification. Contenders, same architecture,
split, image size, epochs, batch size, learning rate and augmentation:

- service: `trainer.engine.fine_tune` on the multi-label TrainData (sigmoid head, BCE with per-label positive
  weights, the recipe, the kept epoch by val mAP, per-label thresholds by max F1 on cross-fitted train
  predictions: trainer/crossfit.py);
- bare: the same model with a new head, AdamW, plain BCE, cosine per epoch, the last epoch, threshold 0.5.

Printed per seed and as means: val mAP, macro and micro F1 of each, the service's model at a fixed 0.5
(per-label thresholds vs 0.5) and, with --in-sample, at thresholds fitted on its own train predictions.

    OMP_NUM_THREADS=1 python bench/multilabel/run.py [--images 400 --epochs 8 --seeds 0 1 2 --in-sample]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cvat_bridge.ingest.multilabel import iterative_split  # noqa: E402
from trainer.catalogue import get_architecture  # noqa: E402
from trainer.config import TrainSettings  # noqa: E402
from trainer.data import ImageDataset, TrainData, eval_dataset, train_data, train_transform  # noqa: E402
from trainer.engine import fine_tune  # noqa: E402
from trainer.multilabel import MULTI, multilabel_metrics  # noqa: E402

COLOURS = {"red": (210, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 210), "yellow": (225, 205, 40)}
SHAPES = ("circle", "square", "triangle")
VOCABULARY = [f"{colour}-{shape}" for colour in COLOURS for shape in SHAPES]  # 12 labels
SIZE = 64


def draw(labels: list[str], rng: random.Random) -> Image.Image:
    """A noisy background with one shape per label, each in its own cell of a 3x3 grid, jittered."""
    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(90, 150) for _ in range(3)))
    pen = ImageDraw.Draw(image)
    cell = SIZE // 3
    for label, slot in zip(labels, rng.sample(range(9), len(labels)), strict=True):
        colour, shape = label.split("-")
        size = rng.randint(cell * 2 // 3, cell - 2)
        x = (slot % 3) * cell + rng.randint(0, cell - size)
        y = (slot // 3) * cell + rng.randint(0, cell - size)
        box = (x, y, x + size, y + size)
        fill = tuple(min(255, max(0, c + rng.randint(-25, 25))) for c in COLOURS[colour])
        if shape == "circle":
            pen.ellipse(box, fill=fill)
        elif shape == "square":
            pen.rectangle(box, fill=fill)
        else:
            pen.polygon([(x + size // 2, y), (x, y + size), (x + size, y + size)], fill=fill)
    noise = np.random.default_rng(rng.randint(0, 2**31)).integers(-20, 21, (SIZE, SIZE, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def generate(folder: Path, count: int, seed: int) -> TrainData:
    """``count`` images with 2-4 labels each (uneven label frequencies), split by iterative stratification."""
    rng = random.Random(seed)
    weights = [1.0 / (1 + i // 2) for i in range(len(VOCABULARY))]  # the first labels ~6x the last
    items = []
    for index in range(count):
        labels: list[str] = []
        while len(labels) < rng.randint(2, 4) or not labels:
            label = rng.choices(VOCABULARY, weights)[0]
            if label not in labels:
                labels.append(label)
        path = folder / f"img_{index:04d}.png"
        draw(labels, rng).save(path)
        items.append((str(path), tuple(sorted(labels))))
    assignment = iterative_split(items, 0.3, seed)
    samples: dict[str, list] = {"train": [], "val": []}
    for path, labels in items:
        samples[assignment[path]].append((path, labels))
    return train_data(sorted(VOCABULARY), samples, MULTI)


def bare_loop(data: TrainData, settings: TrainSettings, architecture: str) -> dict:
    """The reference loop: new head, AdamW on everything, plain BCE, cosine per epoch, last epoch, 0.5."""
    torch.manual_seed(settings.seed)
    spec = get_architecture(architecture)
    model = spec.replace_head(spec.build_pretrained(settings.pretrained), len(data.classes))
    preprocessing = spec.preprocessing(settings.image_size)
    loader = DataLoader(
        ImageDataset(data.train, train_transform(preprocessing, settings.augmentation, True)),
        batch_size=settings.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(settings.seed),
        drop_last=True,
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), settings.learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    for _ in range(settings.epochs):
        model.train()
        for images, targets in loader:
            loss = nn.functional.binary_cross_entropy_with_logits(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    logits, targets = [], []
    with torch.no_grad():
        for images, batch_targets in DataLoader(eval_dataset(data.val, preprocessing), batch_size=64):
            logits.append(model(images))
            targets.append(batch_targets)
    return multilabel_metrics(
        torch.cat(logits).numpy(), torch.cat(targets).numpy(), data.classes, [0.5] * len(data.classes)
    )


def one_seed(args: argparse.Namespace, seed: int) -> dict[str, tuple[float, float, float]]:
    """Each contender's (mAP, macro F1, micro F1) on one generated set (printed with the seconds taken)."""
    settings = TrainSettings(
        epochs=args.epochs, image_size=SIZE, pretrained=args.pretrained, seed=seed, patience=0
    )
    spec = get_architecture(args.architecture)
    rows: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = generate(Path(folder), args.images, seed)
        print(f"seed {seed}: {len(data.train)} train / {len(data.val)} val, {len(data.classes)} labels")
        started = time.monotonic()
        service = fine_tune(spec, settings, data, Path(folder) / "service").metrics
        seconds = {"service": time.monotonic() - started}
        rows["service, cross-fitted thresholds"] = _scores(service)
        rows["service, fixed 0.5"] = (service["map"], *_f1(service["at_0_5"]))
        if args.in_sample:  # the same model (same seed), thresholds on its own train predictions
            in_sample = settings.model_copy(update={"threshold_folds": 0})
            rows["service, in-sample thresholds"] = _scores(
                fine_tune(spec, in_sample, data, Path(folder) / "in-sample").metrics
            )
        started = time.monotonic()
        rows["bare torchvision BCE loop, 0.5"] = _scores(bare_loop(data, settings, args.architecture))
        seconds["bare"] = time.monotonic() - started
    for name, (map_, macro, micro) in rows.items():
        print(f"  {name:34} {map_:7.3f} {macro:9.3f} {micro:9.3f}")
    kept = service["best_epoch"]
    print(f"  seconds: service {seconds['service']:.0f} (kept epoch {kept}), bare {seconds['bare']:.0f}")
    return rows


def _f1(metrics: dict) -> tuple[float, float]:
    return metrics["macro"]["f1"], metrics["micro"]["f1"]


def _scores(metrics: dict) -> tuple[float, float, float]:
    return metrics["map"], *_f1(metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--architecture", default="resnet18")
    parser.add_argument("--pretrained", action="store_true", help="ImageNet weights (must be on the machine)")
    parser.add_argument(
        "--in-sample", action="store_true", help="also the thresholds of the model's own train predictions"
    )
    args = parser.parse_args()
    print(f"  {'contender':34} {'mAP':>7} {'macro F1':>9} {'micro F1':>9}")
    runs = [one_seed(args, seed) for seed in args.seeds]
    print(f"mean over seeds {args.seeds}:")
    for name in runs[0]:
        means = [sum(run[name][i] for run in runs) / len(runs) for i in range(3)]
        print(f"  {name:34} {means[0]:7.3f} {means[1]:9.3f} {means[2]:9.3f}")


if __name__ == "__main__":
    main()
