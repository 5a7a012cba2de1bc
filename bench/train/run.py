"""Trainer benchmark (issue 3), on real JPEGs (hymenoptera_data: ants vs bees).

1. Throughput: images/s of `trainer.engine.fine_tune` vs a bare torchvision training loop, same model, data,
   image size, batch, augmentation, optimiser, threads and loader workers; interleaved runs, median of each.
   Target: ratio >= 0.95.
2. Wall time from a zip of ~160 images to a trained 3-epoch model with its ONNX export, through the real
   path (zip import -> collection -> "train" job -> artifacts). `yolo classify train` + export on the same
   data when ultralytics is installed.

    python bench/train/run.py [--architecture resnet18] [--image-size 128] [--batch-size 32] [--repeats 2]
                              [--data path/to/hymenoptera_data]   (default: the subset in tests/data)
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.models import get_model
from torchvision.transforms import v2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cvat_bridge.services import Services, set_services  # noqa: E402
from cvat_bridge.settings import Settings  # noqa: E402
from trainer.catalogue import get_architecture  # noqa: E402
from trainer.config import TrainSettings  # noqa: E402
from trainer.data import TrainData  # noqa: E402
from trainer.engine import fine_tune  # noqa: E402

HYMENOPTERA = ROOT / "tests" / "data" / "hymenoptera_data"  # --data: the full data set
PER_CLASS = 80  # 2 classes x 80 = 160 images


def pick_images(folder: Path, per_class: int = PER_CLASS) -> dict[str, list[Path]]:
    """The first per_class images of each class of hymenoptera's train split."""
    return {
        label.name: sorted(label.glob("*.jpg"))[:per_class]
        for label in sorted((folder / "train").iterdir())
        if label.is_dir()
    }


def trainer_images_per_second(images: dict[str, list[Path]], args: argparse.Namespace, out: Path) -> float:
    """The trainer's own measure (images seen / time of the epoch, loading included), last epoch."""
    classes = sorted(images)
    samples = [(str(path), classes.index(label)) for label in classes for path in images[label]]
    data = TrainData(classes=classes, train=samples, val=samples[:8], test=[])
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=args.image_size,
        learning_rate=1e-3,
        pretrained=False,
        patience=0,
        imbalance="none",
        augmentation="light",
        num_workers=args.workers,
    )
    result = fine_tune(get_architecture(args.architecture), settings, data, out)
    return result.history[-1]["images_per_second"]


def bare_images_per_second(images: dict[str, list[Path]], args: argparse.Namespace, root: Path) -> float:
    """A plain torchvision loop on the same files, measured the same way."""
    for label, paths in images.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for path in paths:
            target = root / label / path.name
            if not target.exists():
                target.symlink_to(path)
    spec = get_architecture(args.architecture).preprocessing(args.image_size)
    transform = v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(spec.crop_size, scale=(0.6, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(spec.mean), list(spec.std)),
        ]
    )
    loader = DataLoader(
        ImageFolder(str(root), transform=transform),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        drop_last=True,
    )
    model = get_model(args.architecture, num_classes=len(images))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    images_per_second = 0.0
    for _ in range(args.epochs):
        model.train()
        seen, start = 0, time.monotonic()
        for batch, labels in loader:
            loss = criterion(model(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += labels.shape[0]
        images_per_second = seen / (time.monotonic() - start)
    return images_per_second


def zip_to_model(images: dict[str, list[Path]], work: Path) -> tuple[float, dict]:
    """Seconds from a zip of the images to a succeeded 3-epoch model with ONNX, through the job path."""
    from cvat_bridge.ingest.zipimport import import_zip
    from cvat_bridge.jobs.runner import run_job
    from cvat_bridge.training import create_training, get_model

    zip_path = work / "hymenoptera-160.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for label, paths in images.items():
            for path in paths:
                archive.write(path, f"{label}/{path.name}")
    services = Services(Settings(data_dir=work / "data", api_token="bench"))
    set_services(services)
    start = time.monotonic()
    collection = import_zip(services, zip_path, name="hymenoptera-160")
    model = create_training(
        services,
        name="bench",
        collection_id=collection.id,
        architecture="resnet18",
        settings={"epochs": 3, "image_size": 160, "batch_size": 32, "pretrained": False, "patience": 0},
    )
    run_job(model.job_id)
    seconds = time.monotonic() - start
    model = get_model(services, model.id)
    assert model.job.status == "succeeded", model.job.error
    assert (services.storage.model_dir(model.id) / "model.onnx").is_file()
    return seconds, model.metrics


def yolo_zip_to_model(images: dict[str, list[Path]], work: Path) -> float | None:
    """`yolo classify train` (3 epochs) + ONNX export on the same images, when ultralytics is installed."""
    if importlib.util.find_spec("ultralytics") is None:
        return None
    dataset = work / "yolo"
    for split in ("train", "val"):
        for label, paths in images.items():
            (dataset / split / label).mkdir(parents=True, exist_ok=True)
            chosen = paths[: int(len(paths) * 0.7)] if split == "train" else paths[int(len(paths) * 0.7) :]
            for path in chosen:
                shutil.copy(path, dataset / split / label / path.name)
    start = time.monotonic()
    subprocess.run(
        [
            "yolo",
            "classify",
            "train",
            f"data={dataset}",
            "model=yolo11n-cls.pt",
            "epochs=3",
            "imgsz=160",
            f"project={work / 'runs'}",
            "name=bench",
        ],
        check=True,
    )
    subprocess.run(
        ["yolo", "export", f"model={work / 'runs' / 'bench' / 'weights' / 'best.pt'}", "format=onnx"],
        check=True,
    )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="resnet18")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2, help="per throughput run; the last one is measured")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--workers", type=int, default=0, help="data loader processes, both loops")
    parser.add_argument(
        "--throughput-per-class", type=int, default=PER_CLASS, help="images per class, part 1"
    )
    parser.add_argument("--data", type=Path, default=HYMENOPTERA, help="train/ and val/ class folders")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = pick_images(args.data)
    count = sum(len(p) for p in images.values())
    subset = pick_images(args.data, args.throughput_per_class)
    print(
        f"data: {count} JPEGs from {args.data} ({', '.join(images)}); throughput on "
        f"{sum(len(p) for p in subset.values())} of them, {args.architecture} at "
        f"{args.image_size}px, batch {args.batch_size}, {args.threads} threads, {args.workers} loader workers"
    )

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours, bare = [], []
        for repeat in range(args.repeats):  # interleaved, in alternating order: load drifts hit both alike
            for which in ("trainer", "bare") if repeat % 2 == 0 else ("bare", "trainer"):
                if which == "trainer":
                    ours.append(trainer_images_per_second(subset, args, work / f"trainer-{repeat}"))
                else:
                    bare.append(bare_images_per_second(subset, args, work / f"imagefolder-{repeat}"))
            print(
                f"  run {repeat + 1}: trainer {ours[-1]:7.1f} img/s   bare torchvision {bare[-1]:7.1f} img/s"
            )
        ratio = statistics.median(ours) / statistics.median(bare)
        print(
            f"throughput (median)   trainer {statistics.median(ours):7.1f} img/s   bare torchvision "
            f"{statistics.median(bare):7.1f} img/s   ratio {ratio:.3f} (target >= 0.95)"
        )

        seconds, metrics = zip_to_model(images, work)
        print(
            f"zip ({count} images) -> trained 3-epoch resnet18 @160px + ONNX: {seconds:.1f} s "
            f"(val accuracy {metrics['accuracy']:.1%}, {metrics['correct']}/{metrics['total']}, from scratch)"
        )
        yolo = yolo_zip_to_model(images, work)
        if yolo is None:
            print("yolo classify train + export: skipped (ultralytics is not installed in this environment)")
        else:
            print(f"yolo classify train (3 epochs) + ONNX export on the same data: {yolo:.1f} s")


if __name__ == "__main__":
    main()
