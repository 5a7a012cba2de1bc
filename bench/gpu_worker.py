"""GPU check of the worker path (issue 8): one training job on CUDA with AMP, and the multi-GPU path
(DistributedDataParallel, one process per GPU) when the machine has more than one GPU. Prints images/s and the
accuracy reached.

    python bench/gpu_worker.py                       # resnet50, 224 px, 3 x 800 generated JPEGs, 4 epochs
    python bench/gpu_worker.py --architecture resnet18 --epochs 3 --per-class 400

What runs is what a `cvat-bridge worker` runs: a zip of class folders imported as a collection
(`import_zip`), a Model + Job row as `POST /api/models` makes them (`create_training`), then
`cvat_bridge.jobs.runner.run_job` in this process, with the worker setting `train_processes` = 1 and then
"auto" (every GPU). Weights are not pretrained (an offline GPU machine has none to download); the images are
generated with a learnable colour signal, so accuracy should reach ~1.0. A throw-away data dir and SQLite
database are used and removed. Needs a CUDA device; a few minutes on one GPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/gpu_worker.py` from anywhere

from cvat_bridge.ingest.zipimport import import_zip  # noqa: E402
from cvat_bridge.jobs.runner import run_job  # noqa: E402
from cvat_bridge.services import Services, set_services  # noqa: E402
from cvat_bridge.settings import Settings  # noqa: E402
from cvat_bridge.training import create_training, get_model  # noqa: E402
from tests.helpers.images import PALETTE, zip_tree  # noqa: E402

CLASSES = ("red", "green", "blue")


def write_images(root: Path, per_class: int, size: int) -> None:
    """root/<class>/<i>.jpg: the class's colour with noise and a bright square (numpy: fast at 224+ px)."""
    rng = np.random.default_rng(0)
    for label in CLASSES:
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            noise = rng.integers(-40, 41, size=(size, size, 3))
            pixels = np.clip(np.array(PALETTE[label]) + noise, 0, 255).astype(np.uint8)
            x, y = rng.integers(0, size // 2, size=2)
            pixels[y : y + size // 4, x : x + size // 4] = 255
            Image.fromarray(pixels).save(root / label / f"{index}.jpg", quality=90)


def run_training(
    data_dir: Path, collection_id: int, processes: int | str, name: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """One training job through the worker path with `train_processes=processes`; its numbers."""
    services = Services(Settings(data_dir=data_dir, train_processes=processes))
    set_services(services)
    try:
        model = create_training(
            services, name=name, collection_id=collection_id, architecture=settings["architecture"],
            settings={k: v for k, v in settings.items() if k != "architecture"},
        )  # fmt: skip
        started = time.monotonic()
        run_job(model.job_id)
        seconds = time.monotonic() - started
        model = get_model(services, model.id)
    finally:
        services.db.dispose()
        set_services(None)
    if model.job.status != "succeeded":
        raise SystemExit(f"the training job {model.job.status}: {model.job.error}")
    history = model.metrics["history"]
    steady = history[1:] or history  # the first epoch includes cuDNN autotuning and loader start-up
    return {
        "processes": model.job.result["processes"],
        "device": model.metrics["device"],
        "images_per_second": float(np.mean([epoch["images_per_second"] for epoch in steady])),
        "epoch_images_per_second": [round(epoch["images_per_second"]) for epoch in history],
        "accuracy": model.metrics["accuracy"],
        "correct": model.metrics["correct"],
        "total": model.metrics["total"],
        "job_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", default="resnet50")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch (all GPUs together)")
    parser.add_argument("--per-class", type=int, default=800, help="generated images per class (3 classes)")
    parser.add_argument("--workers", type=int, default=8, help="data loader processes per training process")
    smoke = (
        "no GPU: run both paths on the CPU (2 gloo processes) to check this script; the numbers mean nothing"
    )
    parser.add_argument("--cpu-smoke", action="store_true", help=smoke)
    args = parser.parse_args()
    if torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        print(
            f"torch {torch.__version__}, {gpus} x {torch.cuda.get_device_name(0)}, AMP {amp}, channels_last"
        )
        multi = "auto" if gpus > 1 else None
    elif args.cpu_smoke:
        print(f"torch {torch.__version__}, no GPU: CPU smoke run (1 process, then 2 gloo processes)")
        multi = 2
    else:
        raise SystemExit(
            "no CUDA device: this check is for a machine with an NVIDIA GPU (or pass --cpu-smoke)"
        )

    settings = {
        "architecture": args.architecture,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "pretrained": False,
        "patience": 0,
        "augmentation": "light",
        "num_workers": args.workers,
        "learning_rate": 1e-3,
    }
    with tempfile.TemporaryDirectory(prefix="cvat-bridge-gpu-check-") as scratch:
        scratch = Path(scratch)
        started = time.monotonic()
        write_images(scratch / "images", args.per_class, args.image_size + 32)
        zip_path = zip_tree(scratch / "images", scratch / "colours.zip")
        services = Services(Settings(data_dir=scratch / "data"))
        collection = import_zip(services, zip_path, name="gpu-check")
        services.db.dispose()
        print(
            f"collection: {len(CLASSES)} x {args.per_class} JPEGs at {args.image_size + 32} px, "
            f"{collection.id=}, ready in {time.monotonic() - started:.0f} s"
        )

        runs = {"1 process": run_training(scratch / "data", collection.id, 1, "one-process", settings)}
        if multi is not None:
            runs["DDP"] = run_training(scratch / "data", collection.id, multi, "all-processes", settings)

    print(
        f"\n{args.architecture} at {args.image_size} px, global batch {args.batch_size}, "
        f"{args.epochs} epochs, {args.workers} loader workers per process"
    )
    print(f"{'run':<12}{'processes':>10}{'images/s':>10}{'accuracy':>16}{'job s':>8}  images/s per epoch")
    for label, run in runs.items():
        accuracy = f"{run['accuracy']:.3f} ({run['correct']}/{run['total']})"
        print(
            f"{label:<12}{run['processes']:>10}{run['images_per_second']:>10.0f}{accuracy:>16}"
            f"{run['job_seconds']:>8.0f}  {run['epoch_images_per_second']}"
        )
    if multi is not None:
        one, many = runs.values()
        speed_up = many["images_per_second"] / one["images_per_second"]
        print(
            f"DDP speed-up: {speed_up:.2f}x with {many['processes']} processes ({many['device']} for rank 0)"
        )
    else:
        print("one GPU: the multi-GPU path was not run (it needs more than one GPU)")


if __name__ == "__main__":
    main()
