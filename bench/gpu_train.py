"""ResNet-50 training throughput on one NVIDIA GPU: 224 px, bf16 autocast, channels_last, from JPEG files.

    python bench/gpu_train.py [--data DIR] [--images 4096] [--batch-size 256] [--steps 60] [--compile]

Prints images/s of three runs side by side, so the limit is visible:
  model only   - batches already on the GPU (the ceiling of the model step),
  cpu decode   - PIL decode + RandomResizedCrop in DataLoader worker processes, uint8 to the GPU,
  gpu decode   - workers only read the file bytes; nvJPEG decodes on the GPU (torchvision.io.decode_jpeg on
                 CUDA) on a side stream, one batch ahead, then crop/resize/flip/normalise on the GPU.
Target on one H100: >= 3,000 images/s. Without --data, JPEGs like ImageNet's (about 500x375) are generated.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_jpeg, read_file
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as F

SIZE = 224
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
NUM_CLASSES = 1000


def _write_jpeg(args: tuple[Path, int]) -> None:
    path, seed = args
    rng = np.random.default_rng(seed)
    height, width = 375, 500
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            (xx * rng.uniform(0.2, 0.6) + yy * rng.uniform(0.1, 0.5) + rng.uniform(0, 255)) % 256
            for _ in range(3)
        ],
        axis=-1,
    )
    noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(path, quality=90)


def generated_jpegs(folder: Path, count: int) -> list[Path]:
    paths = [folder / f"{index:06d}.jpg" for index in range(count)]
    with Pool(os.cpu_count()) as pool:
        pool.map(_write_jpeg, [(path, index) for index, path in enumerate(paths)], chunksize=64)
    return paths


def labelled(paths: list[Path]) -> list[tuple[str, int]]:
    return [(str(path), index % NUM_CLASSES) for index, path in enumerate(paths)]


class DecodedJpegs(Dataset):
    """CPU pipeline: PIL decode, RandomResizedCrop(224), flip; uint8 CHW."""

    def __init__(self, samples: list[tuple[str, int]]) -> None:
        self.samples = samples
        self.crop = RandomResizedCrop(SIZE, antialias=True)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        with Image.open(path) as image:
            image = self.crop(image.convert("RGB"))
        if random.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1), label


class JpegBytes(Dataset):
    """GPU pipeline: the workers only read the encoded bytes."""

    def __init__(self, samples: list[tuple[str, int]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return read_file(path), label


def _bytes_collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[list[torch.Tensor], torch.Tensor]:
    return [data for data, _ in batch], torch.tensor([label for _, label in batch])


def normalise(batch_uint8: torch.Tensor) -> torch.Tensor:
    device = batch_uint8.device
    batch = (batch_uint8.float() - MEAN.to(device)) / STD.to(device)
    return batch.contiguous(memory_format=torch.channels_last)


def gpu_crops(images: list[torch.Tensor]) -> torch.Tensor:
    """RandomResizedCrop(224) + flip of each decoded CUDA image, stacked as uint8."""
    out = []
    for image in images:
        top, left, height, width = RandomResizedCrop.get_params(
            image, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
        )
        crop = F.resized_crop(image, top, left, height, width, [SIZE, SIZE], antialias=True)
        out.append(crop.flip(-1) if random.random() < 0.5 else crop)
    return torch.stack(out)


def cpu_batches(samples, batch_size: int, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    loader = DataLoader(
        DecodedJpegs(samples),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=True,
        drop_last=True,
        persistent_workers=True,
        prefetch_factor=4,
    )
    while True:
        for images, labels in loader:
            yield normalise(images.cuda(non_blocking=True)), labels.cuda(non_blocking=True)


def gpu_batches(samples, batch_size: int, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Decode batch i+1 on a side stream while the model trains on batch i."""
    loader = DataLoader(
        JpegBytes(samples),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        collate_fn=_bytes_collate,
        drop_last=True,
        persistent_workers=True,
        prefetch_factor=4,
    )
    side = torch.cuda.Stream()

    def prepare(datas, labels):
        """Queue the decode of a batch on the side stream; the event marks when it is done."""
        with torch.cuda.stream(side):
            decoded = decode_jpeg(datas, mode=ImageReadMode.RGB, device="cuda")
            batch = normalise(gpu_crops(decoded)), labels.cuda(non_blocking=True)
            done = torch.cuda.Event()
            done.record(side)
        return batch, done

    def endless():
        while True:
            yield from loader

    source = endless()
    ready = prepare(*next(source))
    for datas, labels in source:
        upcoming = prepare(datas, labels)  # queued behind `ready` on the side stream
        (images, targets), done = ready
        torch.cuda.current_stream().wait_event(done)  # only this batch, not the upcoming one
        images.record_stream(torch.cuda.current_stream())
        targets.record_stream(torch.cuda.current_stream())
        yield images, targets
        ready = upcoming


def synthetic_batches(batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    images = normalise(torch.randint(0, 256, (batch_size, 3, SIZE, SIZE), dtype=torch.uint8, device="cuda"))
    labels = torch.randint(0, NUM_CLASSES, (batch_size,), device="cuda")
    while True:
        yield images, labels


def measure(batches: Iterator, model: nn.Module, batch_size: int, warmup: int, steps: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
    criterion = nn.CrossEntropyLoss()
    model.train()
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        images, labels = next(batches)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="a folder of .jpg files (searched recursively)")
    parser.add_argument("--images", type=int, default=4096, help="JPEGs to generate without --data")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--only", choices=["model", "cpu", "gpu"], action="append")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark is for a machine with an NVIDIA GPU")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    print(
        f"{torch.cuda.get_device_name()} · torch {torch.__version__} · torchvision {torchvision.__version__}"
        " · "
        f"{args.workers} loader workers · batch {args.batch_size} · ResNet-50 {SIZE}px bf16 channels_last"
        + (" · compiled" if args.compile else ""),
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            paths = sorted(args.data.rglob("*.jpg"))
        else:
            started = time.perf_counter()
            paths = generated_jpegs(Path(tmp), args.images)
            print(
                f"generated {len(paths)} JPEGs (500x375) in {time.perf_counter() - started:.1f} s", flush=True
            )
        samples = labelled(paths)
        runs = {
            "model": ("model only (batches on the GPU)", lambda: synthetic_batches(args.batch_size)),
            "cpu": (
                f"cpu decode (PIL, {args.workers} workers)",
                lambda: cpu_batches(samples, args.batch_size, args.workers),
            ),
            "gpu": (
                "gpu decode (nvJPEG, decode_jpeg on CUDA)",
                lambda: gpu_batches(samples, args.batch_size, args.workers),
            ),
        }
        results = {}
        for key in args.only or list(runs):
            model = (
                torchvision.models.resnet50(num_classes=NUM_CLASSES)
                .cuda()
                .to(memory_format=torch.channels_last)
            )
            if args.compile:
                model = torch.compile(model)
            label, batches = runs[key]
            results[key] = measure(batches(), model, args.batch_size, args.warmup, args.steps)
            print(f"{label:<44} {results[key]:8.0f} images/s", flush=True)

    best_data = max((results[k] for k in ("cpu", "gpu") if k in results), default=None)
    if best_data is not None and "model" in results:
        share = best_data / results["model"]
        verdict = "the data pipeline is the limit" if share < 0.9 else "the model step is the limit"
        print(f"best JPEG pipeline reaches {share:.0%} of the model-only rate: {verdict}")
    if best_data is not None:
        print(
            f"target >= 3000 images/s from JPEG files: {'met' if best_data >= 3000 else 'NOT met'} "
            f"({best_data:.0f})"
        )


if __name__ == "__main__":
    main()
