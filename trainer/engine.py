"""The training loop, top to bottom like torchvision's references/classification/train.py.

fine_tune(): build the model (pretrained backbone, new head) -> fit the probe head (recipe) -> for each
epoch: train, evaluate on val, checkpoint, keep the best (the probe head alone is "epoch 0"), stop early ->
best weights -> metrics (val, test) -> ONNX export checked against torch. Progress goes to
`report(**fields)`; `check_cancelled()` raises to stop. CUDA with bf16/fp16 autocast and channels_last when
available, else CPU (deterministic for a fixed seed).

Distributed training runs this loop in one process per GPU through a `Placement` (trainer/distributed.py):
it shares out the training batches, wraps the model for training, gathers validation across processes, and
lets one process write the files. The default placement is this process alone.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cvat_bridge.runtime.imaging import Preprocessing
from trainer import artifacts
from trainer.catalogue import ArchitectureSpec, classifier_head
from trainer.config import TrainSettings
from trainer.data import (
    ImageDataset,
    Sample,
    TrainData,
    class_weights,
    eval_dataset,
    make_loader,
    resolve_workers,
    train_sampler,
    train_transform,
)
from trainer.export import export_onnx
from trainer.metrics import classification_metrics, plot_confusion_matrix
from trainer.recipe import Recipe

Report = Callable[..., None]
REPORT_EVERY_SECONDS = 1.0
ONNX_CHECK_IMAGES = 16


class TrainingError(ValueError):
    """The training cannot run as asked (message meant for the user)."""


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    onnx_max_abs_diff: float
    device: str
    info: dict[str, Any] = field(default_factory=dict)
    processes: int = 1  # training processes (trainer.distributed: one per GPU)


@dataclass
class Device:
    """Where training runs and how: AMP dtype and memory format follow the device."""

    device: torch.device
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format

    @classmethod
    def auto(cls) -> Device:
        if torch.cuda.is_available():
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return cls(torch.device("cuda"), dtype, torch.channels_last)
        return cls(torch.device("cpu"), None, torch.contiguous_format)

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def put(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        return images, labels.to(self.device, non_blocking=True)


class Placement:
    """Where the loop runs: this process alone (trainer.distributed.DistributedPlacement: several)."""

    writes_files = True

    def device(self) -> Device:
        return Device.auto()

    def train_loader(self, loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
        return loader

    def train_epoch(self, model: nn.Module, *args: Any) -> tuple[float, float]:
        return train_one_epoch(model, *args)

    def evaluate(
        self,
        model: nn.Module,
        loader: torch.utils.data.DataLoader,
        device: Device,
        criterion: nn.Module | None = None,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        return evaluate(model, loader, device, criterion)

    def finish_epochs(self) -> bool:
        """After the last epoch: whether this process goes on to the results (metrics, ONNX)."""
        return True


def fine_tune(
    spec: ArchitectureSpec,
    settings: TrainSettings,
    data: TrainData,
    out_dir: Path,
    *,
    info: dict[str, Any] | None = None,
    report: Report = lambda **_: None,
    check_cancelled: Callable[[], None] = lambda: None,
    placement: Placement | None = None,
) -> TrainResult | None:
    """Fine-tune spec on data with settings; writes every artifact into out_dir (see trainer.artifacts).

    None only in the processes of a distributed placement that do not write the results.
    """
    placement = placement or Placement()
    _check_data(data)
    image_size = settings.image_size or spec.preprocessing().crop_size
    if problem := spec.check_image_size(image_size):
        raise TrainingError(problem)
    preprocessing = spec.preprocessing(image_size)
    num_classes = len(data.classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "architecture": spec.name,
        "source": spec.source,
        "classes": list(data.classes),
        "preprocessing": preprocessing.to_dict(),
        "settings": settings.model_dump(),
        "splits": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        **(info or {}),
    }
    if placement.writes_files:
        artifacts.write_json(out_dir / artifacts.MODEL_JSON, info)

    # Reproducibility: one seed for Python, NumPy, torch and the loaders' shuffling.
    _seed_everything(settings.seed)
    device = placement.device()
    torch.backends.cudnn.benchmark = device.device.type == "cuda"

    # Model: pretrained backbone (or not), fresh head for our classes (the pretrained one kept for the probe).
    model = spec.build_pretrained(settings.pretrained)
    pretrained_head = classifier_head(model) if settings.pretrained else None
    model = spec.replace_head(model, num_classes)
    model = model.to(device.device, memory_format=device.memory_format)
    recipe = Recipe.from_settings(settings)
    recipe.prepare(model)

    # Data.
    generator = torch.Generator().manual_seed(settings.seed)
    workers = resolve_workers(settings.num_workers, len(data.train))
    pin = device.device.type == "cuda"
    sampler = train_sampler(data.train, num_classes, settings.imbalance == "sampler", generator)
    train_loader = make_loader(
        ImageDataset(data.train, train_transform(preprocessing, settings.augmentation)),
        settings.batch_size,
        workers,
        shuffle=True,
        sampler=sampler,
        generator=generator,
        drop_last=len(data.train) > settings.batch_size,
        pin_memory=pin,
    )
    train_loader = placement.train_loader(train_loader)
    val_loader = make_loader(
        eval_dataset(data.val, preprocessing), settings.batch_size, workers, pin_memory=pin
    )

    # Loss, optimiser, schedule.
    weights = class_weights(data.train, num_classes) if settings.imbalance == "weighted_loss" else None
    probe_loader = make_loader(eval_dataset(data.train, preprocessing), settings.batch_size, workers)
    probe = recipe.init_head(model, probe_loader, device, weights, check_cancelled, pretrained_head)
    criterion = nn.CrossEntropyLoss(weight=weights.to(device.device) if weights is not None else None)
    optimizer = torch.optim.AdamW(
        recipe.param_groups(model, settings.learning_rate),
        lr=settings.learning_rate,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    scaler = torch.amp.GradScaler(enabled=device.amp_dtype == torch.float16)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    probe_accuracy: float | None = None
    if probe is not None:
        # "Epoch 0", the probe head on the untouched backbone, is the first candidate: fine-tuning keeps its
        # weights only where it beats the probe on val (on a small collection it may not).
        val_loss, logits, labels = placement.evaluate(model, val_loader, device, criterion)
        probe_accuracy = float((logits.argmax(1) == labels).mean())
        best = {"epoch": 0, "val_loss": val_loss, "val_accuracy": probe_accuracy}
        if placement.writes_files:
            artifacts.save_torch(_cpu_state(model), out_dir / artifacts.WEIGHTS)
    epochs_without_improvement = 0
    started = time.monotonic()
    progress = _Progress(report, settings.epochs, len(train_loader), started)
    for epoch in range(1, settings.epochs + 1):
        epoch_start = time.monotonic()
        recipe.start_epoch(model, epoch)
        train_loss, images_per_second = placement.train_epoch(
            model, train_loader, criterion, optimizer, scaler, device, epoch, progress, check_cancelled
        )
        scheduler.step()
        val_loss, logits, labels = placement.evaluate(model, val_loader, device, criterion)
        val_accuracy = float((logits.argmax(1) == labels).mean())
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "seconds": time.monotonic() - epoch_start,
                "images_per_second": images_per_second,
            }
        )

        # Best weights: highest val accuracy, ties to the lower val loss. Patience counts the epochs since
        # val accuracy last rose (a perfect or stuck accuracy stops the training).
        accuracy_rose = best is None or val_accuracy > best["val_accuracy"]
        epochs_without_improvement = 0 if accuracy_rose else epochs_without_improvement + 1
        if best is None or (val_accuracy, -val_loss) > (best["val_accuracy"], -best["val_loss"]):
            best = history[-1]
            if placement.writes_files:
                artifacts.save_torch(_cpu_state(model), out_dir / artifacts.WEIGHTS)
        if placement.writes_files:
            artifacts.save_torch(
                {
                    "model": _cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best_epoch": best["epoch"],
                    "history": history,
                },
                out_dir / artifacts.CHECKPOINT,
            )
            artifacts.write_json(out_dir / artifacts.HISTORY, history)
        progress.epoch_done(epoch, train_loss, val_loss, val_accuracy, history)
        if settings.patience and epochs_without_improvement >= settings.patience:
            break
        check_cancelled()
    if not placement.finish_epochs():
        return None

    # Results of the best epoch's weights.
    model.load_state_dict(
        torch.load(out_dir / artifacts.WEIGHTS, map_location=device.device, weights_only=True)
    )
    report(phase="evaluating")
    _, logits, labels = evaluate(model, val_loader, device)
    metrics = classification_metrics(logits, labels, data.classes)
    if data.test:
        test_loader = make_loader(eval_dataset(data.test, preprocessing), settings.batch_size, workers)
        _, test_logits, test_labels = evaluate(model, test_loader, device)
        metrics["test"] = classification_metrics(test_logits, test_labels, data.classes)
    metrics.update(
        best_epoch=best["epoch"], epochs_run=len(history), stopped_early=len(history) < settings.epochs
    )
    if probe is not None:
        metrics["probe_head"] = {
            "chosen": probe.name,
            "cv_losses": probe.cv_losses,
            "val_accuracy": probe_accuracy,
        }
    plot_confusion_matrix(
        metrics["confusion_matrix"],
        out_dir / artifacts.CONFUSION_PNG,
        title=f"{spec.name}: validation ({metrics['correct']}/{metrics['total']} correct)",
    )

    report(phase="exporting")
    check_images = eval_dataset(data.val[:ONNX_CHECK_IMAGES], preprocessing)
    check_inputs = torch.stack([check_images[i][0] for i in range(len(check_images))])
    metrics["onnx_max_abs_diff"] = export_onnx(model, check_inputs, out_dir / artifacts.ONNX)
    if settings.int8:
        report(phase="quantizing")
        metrics["int8"] = _export_int8(out_dir, data.train, preprocessing, val_loader, logits, labels)
    metrics["device"] = str(device.device)
    metrics["loader_workers"] = workers
    metrics["seconds"] = time.monotonic() - started
    artifacts.write_json(out_dir / artifacts.METRICS, metrics)
    return TrainResult(
        metrics=metrics,
        history=history,
        best_epoch=best["epoch"],
        epochs_run=len(history),
        stopped_early=metrics["stopped_early"],
        onnx_max_abs_diff=metrics["onnx_max_abs_diff"],
        device=str(device.device),
        info=info,
    )


def train_one_epoch(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: Device,
    epoch: int,
    progress: _Progress,
    check_cancelled: Callable[[], None],
) -> tuple[float, float]:
    """One pass over the training data; returns the mean loss and images per second."""
    model.train()
    total_loss, seen = 0.0, 0
    start = time.monotonic()
    for step, (images, labels) in enumerate(loader, start=1):
        images, labels = device.put(images, labels)
        with device.autocast():
            loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

        batch = labels.shape[0]
        total_loss += loss.item() * batch
        seen += batch
        images_per_second = seen / max(time.monotonic() - start, 1e-9)
        progress.step(epoch, step, total_loss / seen, images_per_second)
        check_cancelled()
    if not math.isfinite(total_loss):
        raise TrainingError(f"the loss diverged in epoch {epoch}; try a smaller learning_rate")
    return total_loss / max(seen, 1), seen / max(time.monotonic() - start, 1e-9)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: torch.utils.data.DataLoader, device: Device, criterion: nn.Module | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss (unweighted), logits (float32) and labels of every sample of loader, in order."""
    model.eval()
    all_logits, all_labels, total_loss = [], [], 0.0
    for images, labels in loader:
        images, labels = device.put(images, labels)
        with device.autocast():
            logits = model(images).float()
        total_loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    logits = torch.cat(all_logits).numpy()
    labels = torch.cat(all_labels).numpy()
    return total_loss / max(len(labels), 1), logits, labels


class _Progress:
    """Throttled progress reports (at most one a second, plus one at each epoch's end)."""

    def __init__(self, report: Report, epochs: int, steps: int, started: float) -> None:
        self._report, self._epochs, self._steps, self._started = report, epochs, steps, started
        self._last = 0.0

    def _eta(self, epoch: int, step: int) -> float:
        done = (epoch - 1) + step / self._steps
        elapsed = time.monotonic() - self._started
        return elapsed / done * (self._epochs - done) if done else 0.0

    def step(self, epoch: int, step: int, loss: float, images_per_second: float) -> None:
        now = time.monotonic()
        if now - self._last < REPORT_EVERY_SECONDS:
            return
        self._last = now
        self._report(
            phase="training",
            epoch=epoch,
            epochs=self._epochs,
            step=step,
            steps=self._steps,
            loss=loss,
            images_per_second=images_per_second,
            eta_seconds=self._eta(epoch, step),
        )

    def epoch_done(
        self, epoch: int, loss: float, val_loss: float, val_accuracy: float, history: list
    ) -> None:
        self._last = time.monotonic()
        self._report(
            phase="training",
            epoch=epoch,
            epochs=self._epochs,
            step=self._steps,
            steps=self._steps,
            loss=loss,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            eta_seconds=self._eta(epoch + 1, 0) if epoch < self._epochs else 0.0,
            history=history,
        )


def _export_int8(
    out_dir: Path,
    train: list[Sample],
    preprocessing: Preprocessing,
    val_loader: torch.utils.data.DataLoader,
    logits: np.ndarray,
    labels: np.ndarray,
) -> dict[str, Any]:
    """model.int8.onnx calibrated on train images spread over every class; its accuracy and agreement with
    the float model (logits) on the validation images. A failed quantization costs the int8 file only: the
    training stands, and the metrics say why (`{"error": ...}`)."""
    from trainer.quantize import CALIBRATION_IMAGES, compare_int8, quantize_int8

    spread = train[:: max(1, len(train) // CALIBRATION_IMAGES)][:CALIBRATION_IMAGES]
    calibration = make_loader(eval_dataset(spread, preprocessing), val_loader.batch_size or 1, 0)
    path = out_dir / artifacts.ONNX_INT8
    try:
        quantize_int8(out_dir / artifacts.ONNX, path, (images.numpy() for images, _ in calibration))
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's quantizer raises bare Exceptions
        return {"error": f"int8 quantization failed: {exc}"}
    return compare_int8(path, (images.numpy() for images, _ in val_loader), logits, labels)


def _check_data(data: TrainData) -> None:
    if len(data.classes) < 2:
        raise TrainingError(f"a classifier needs at least 2 classes; the collection has {len(data.classes)}")
    if not data.train:
        raise TrainingError("the collection has no training images")
    if not data.val:
        raise TrainingError("the collection has no validation images; accuracy is measured on them")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        key: value.detach().to("cpu", copy=True).contiguous() for key, value in model.state_dict().items()
    }
