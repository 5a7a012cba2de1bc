"""The training loop, top to bottom like torchvision's references/classification/train.py.

fine_tune() in three steps: _build (model with a new head; one look at the train images that fits the probe
head and decides flips (trainer.recipe); loaders, optimiser, per-step schedule) -> _fit (per epoch: train,
evaluate on val, checkpoint, keep the best (the probe head alone is "epoch 0"), stop early) -> _finalise
(best weights, BatchNorm statistics re-estimated where train says so, multi-label thresholds from cross-fitted
train predictions, metrics on val and test with the majority-class baseline, plots, ONNX export checked
against torch, int8). Progress goes to
`report(**fields)`; `check_cancelled()` raises to stop. CUDA with bf16/fp16 autocast and channels_last when
available, else CPU (deterministic for a fixed seed).

Distributed training runs this loop in one process per GPU through a `Placement` (trainer/distributed.py):
it shares out the training batches, wraps the model for training, gathers validation across processes, and
lets one process write the files. The default placement is this process alone.
"""

from __future__ import annotations

import math
import random
import tempfile
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
from trainer.batchnorm import Recalibration, recalibrate
from trainer.catalogue import ArchitectureSpec
from trainer.checkpoint import Resumed, load_checkpoint, save_checkpoint
from trainer.config import TrainSettings
from trainer.crossfit import out_of_fold_logits
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
from trainer.evidence import gather_evidence
from trainer.export import export_onnx
from trainer.heads import classifier_head
from trainer.metrics import (
    classification_metrics,
    majority_baseline,
    plot_confusion_matrix,
    plot_per_class_metrics,
    plot_training_curves,
    prediction_rows,
)
from trainer.multilabel import (
    MULTI,
    Predict,
    Task,
    bagged_thresholds,
    best_thresholds,
    eval_loss_sum,
    label_weights,
    multilabel_settings,
    sigmoid,
    threshold_metrics,
)
from trainer.probe import ProbeChoice
from trainer.progress import CHOOSING_THRESHOLDS, RECALIBRATING, Progress, Report, Workload
from trainer.recipe import Recipe
from trainer.steplosses import StepLosses

ONNX_CHECK_IMAGES = 16
LR_WARMUP_SHARE = 0.05  # of the optimizer steps: the learning rate rises linearly, then follows a cosine
RECALIBRATION_IMAGES = 1000  # train images (a spread) that re-estimate BatchNorm statistics after training


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

    def train_epoch(self, model: nn.Module, step: StepContext, epoch: int) -> tuple[float, float]:
        return train_one_epoch(model, step, epoch)

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
    resume: bool = False,
) -> TrainResult | None:
    """Fine-tune spec on data with settings; writes every artifact into out_dir (see trainer.artifacts).

    resume: continue after the last finished epoch of out_dir's checkpoint.pt (trainer/checkpoint.py).
    None only in the processes of a distributed placement that do not write the results.
    """
    resumed = load_checkpoint(out_dir) if resume else None
    run = _build(
        spec, settings, data, out_dir, info or {}, report, check_cancelled, placement or Placement(), resumed
    )
    best, history = _fit(run, resumed)
    if not run.placement.finish_epochs():
        return None
    return _finalise(run, best, history)


@dataclass
class _Run:
    """Everything the three steps of fine_tune share (built by _build)."""

    spec: ArchitectureSpec
    settings: TrainSettings
    data: TrainData
    out_dir: Path
    info: dict[str, Any]
    report: Report
    check_cancelled: Callable[[], None]
    placement: Placement
    device: Device
    preprocessing: Preprocessing
    model: nn.Module
    recipe: Recipe
    workers: int
    decisions: dict[str, Any]  # what the run chose from its train split, and why (metrics["recipe"])
    step: StepContext
    val_loader: torch.utils.data.DataLoader
    probe: ProbeChoice | None
    started: float
    task: Task


def _build(
    spec: ArchitectureSpec,
    settings: TrainSettings,
    data: TrainData,
    out_dir: Path,
    info: dict[str, Any],
    report: Report,
    check_cancelled: Callable[[], None],
    placement: Placement,
    resumed: Resumed | None = None,
) -> _Run:
    """Model, data, the recipe's choices (from the train split; a resumed run's: from its checkpoint), loss,
    optimiser and schedule."""
    started = time.monotonic()
    _check_data(data)
    task = Task(data.mode)
    notes: list[str] = []
    if task.mode == MULTI:
        settings, notes = multilabel_settings(settings)
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
        "mode": data.mode,
        "preprocessing": preprocessing.to_dict(),
        "settings": settings.model_dump(),
        "splits": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        **info,
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
    workers = resolve_workers(settings.num_workers, len(data.train))
    weights = None
    if settings.imbalance == "weighted_loss":
        weights = label_weights(data.train) if task.mode == MULTI else class_weights(data.train, num_classes)

    # What the train images say (one no-gradient pass): the probe head and whether flips keep the classes.
    decisions: dict[str, Any] = {"multilabel": notes} if notes else {}
    evidence = None
    if recipe.needs_evidence and resumed is None:
        report(phase="examining the train images", eta_seconds=None)
        loader = make_loader(eval_dataset(data.train, preprocessing), settings.batch_size, workers)
        backbone = model if settings.pretrained else None
        head = classifier_head(model) if settings.pretrained else None
        examined = time.monotonic()
        evidence = gather_evidence(backbone, head, loader, device, check_cancelled)
        examined = time.monotonic() - examined
    flips, mirror = recipe.choose_flips(evidence, num_classes)
    decisions["flips"] = flips
    if mirror is not None:
        decisions["mirror_test"] = mirror.to_dict()
    if resumed is not None:
        decisions = dict(resumed.decisions)
        flips = decisions["flips"]
    probe = recipe.fit_probe(evidence, num_classes, weights, pretrained_head, check_cancelled)

    # Data.
    generator = torch.Generator().manual_seed(settings.seed)
    pin = device.device.type == "cuda"
    sampler = train_sampler(data.train, num_classes, settings.imbalance == "sampler", generator)
    train_loader = make_loader(
        ImageDataset(data.train, train_transform(preprocessing, settings.augmentation, flips)),
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

    # Loss, optimiser, schedule (stepped per batch).
    criterion = task.criterion(weights.to(device.device) if weights is not None else None)
    optimizer = torch.optim.AdamW(
        recipe.param_groups(model, settings.learning_rate),
        lr=settings.learning_rate,
        weight_decay=settings.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupCosine(settings.epochs * len(train_loader), len(train_loader))
    )
    step = StepContext(
        loader=train_loader,
        criterion=criterion,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(enabled=device.amp_dtype == torch.float16),
        device=device,
        progress=Progress(report, _workload(settings, data, len(train_loader))),
        check_cancelled=check_cancelled,
        losses=StepLosses.for_epochs(settings.epochs),
    )
    if evidence is not None:
        step.progress.examined(examined, len(data.train))
    return _Run(
        spec, settings, data, out_dir, info, report, check_cancelled, placement, device, preprocessing,
        model, recipe, workers, decisions, step, val_loader, probe, started, task,
    )  # fmt: skip


def _fit(run: _Run, resumed: Resumed | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The epochs: train, evaluate on val, checkpoint, keep the best (the probe head alone is "epoch 0"),
    stop early; a resumed run goes on after its checkpoint's epoch. Returns the best epoch's row and every
    epoch's."""
    model, placement, settings = run.model, run.placement, run.settings
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    if run.probe is not None:
        best = _probe_epoch(run)
    epochs_without_improvement = 0
    first_epoch = 1
    step = run.step
    states = {"model": model, "optimizer": step.optimizer, "scheduler": step.scheduler, "scaler": step.scaler}
    if resumed is not None:
        resumed.restore(states)
        history, best = resumed.history, resumed.best
        epochs_without_improvement = resumed.epochs_without_improvement
        stopped = bool(settings.patience) and epochs_without_improvement >= settings.patience
        first_epoch = settings.epochs + 1 if stopped else resumed.epoch + 1
    for epoch in range(first_epoch, settings.epochs + 1):
        epoch_start = time.monotonic()
        run.recipe.start_epoch(model, epoch)
        step.progress.start_epoch()
        train_loss, images_per_second = placement.train_epoch(model, run.step, epoch)
        step.progress.start_validation()
        val_loss, logits, labels = placement.evaluate(model, run.val_loader, run.device, run.step.criterion)
        step.progress.validated()
        val_accuracy = run.task.score(logits, labels)  # multi-label: mAP
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "seconds": time.monotonic() - epoch_start,
                "images_per_second": images_per_second,
                "step_losses": run.step.losses.take(),
            }
        )

        # Best weights: highest val accuracy, ties to the lower val loss. Patience counts the epochs since
        # val accuracy last rose (a perfect or stuck accuracy stops the training).
        accuracy_rose = best is None or val_accuracy > best["val_accuracy"]
        epochs_without_improvement = 0 if accuracy_rose else epochs_without_improvement + 1
        if best is None or (val_accuracy, -val_loss) > (best["val_accuracy"], -best["val_loss"]):
            best = history[-1]
            if placement.writes_files:
                artifacts.save_torch(_cpu_state(model), run.out_dir / artifacts.WEIGHTS)
        if placement.writes_files:
            save_checkpoint(
                run.out_dir,
                states,
                epoch=epoch,
                best=best,
                history=history,
                epochs_without_improvement=epochs_without_improvement,
                decisions=run.decisions,
            )
            artifacts.write_json(run.out_dir / artifacts.HISTORY, history)
        run.step.progress.epoch_done(epoch, train_loss, val_loss, val_accuracy, history)
        if settings.patience and epochs_without_improvement >= settings.patience:
            break
        run.check_cancelled()
    assert best is not None  # at least one epoch ran
    return best, history


def _probe_epoch(run: _Run) -> dict[str, Any]:
    """The probe head on the untouched backbone, evaluated and saved as the first candidate ("epoch 0");
    fine-tuning then starts from it (head_init "probe") or from the random head."""
    head = classifier_head(run.model)
    random_head = {key: value.clone() for key, value in head.state_dict().items()}
    with torch.no_grad():
        head.weight.copy_(run.probe.weight)
        head.bias.copy_(run.probe.bias)
    val_loss, logits, labels = run.placement.evaluate(
        run.model, run.val_loader, run.device, run.step.criterion
    )
    accuracy = run.task.score(logits, labels)
    run.decisions["probe_head"] = {
        "chosen": run.probe.name,
        "cv_losses": run.probe.cv_losses,
        "val_loss": val_loss,
        "val_accuracy": accuracy,
    }
    if run.placement.writes_files:
        artifacts.save_torch(_cpu_state(run.model), run.out_dir / artifacts.WEIGHTS)
    if run.recipe.head_init != "probe":
        head.load_state_dict(random_head)
    return {"epoch": 0, "val_loss": val_loss, "val_accuracy": accuracy}


def _finalise(run: _Run, best: dict[str, Any], history: list[dict[str, Any]]) -> TrainResult:
    """The best epoch's weights (BatchNorm statistics re-estimated where that helps on train), metrics on
    val (and test), plots, the ONNX export checked against torch, and the int8 copy when asked."""
    model, data, out_dir, device = run.model, run.data, run.out_dir, run.device
    run.step.progress.kept(best["epoch"])
    model.load_state_dict(
        torch.load(out_dir / artifacts.WEIGHTS, map_location=device.device, weights_only=True)
    )
    if best["epoch"] > 0 and not run.recipe.freeze_batchnorm:
        run.step.progress.phase(RECALIBRATING)
        if recalibration := _recalibrate(run):
            run.decisions["batchnorm"] = recalibration.to_dict()
            if recalibration.kept:
                artifacts.save_torch(_cpu_state(model), out_dir / artifacts.WEIGHTS)
    run.step.progress.phase("evaluating")
    _, logits, labels = evaluate(model, run.val_loader, device)

    def predict(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
        loader = make_loader(eval_dataset(samples, run.preprocessing), run.settings.batch_size, run.workers)
        return evaluate(model, loader, device)[1:]

    multi = run.task.mode == MULTI
    if multi:
        thresholds, source = _thresholds(run, best["epoch"], predict)
        metrics = threshold_metrics(predict, data, logits, labels, thresholds, source)
        run.info["thresholds"] = metrics["thresholds"]["values"]
        artifacts.write_json(out_dir / artifacts.MODEL_JSON, run.info)
    else:
        metrics = classification_metrics(logits, labels, data.classes)
        metrics["baseline"] = majority_baseline(data.train, labels, logits, data.classes)
        artifacts.write_json(out_dir / artifacts.PREDICTIONS, prediction_rows(data, logits, labels))
        if data.test:
            metrics["test"] = classification_metrics(*predict(data.test), data.classes)
    metrics.update(
        best_epoch=best["epoch"], epochs_run=len(history), stopped_early=len(history) < run.settings.epochs
    )
    size_warning = run.spec.size_warning(run.preprocessing.crop_size)
    problems = [] if multi else metrics["baseline"]["problems"]
    metrics["warnings"] = [*([size_warning] if size_warning else []), *problems]
    if "probe_head" in run.decisions:
        metrics["probe_head"] = run.decisions.pop("probe_head")
    metrics["recipe"] = run.decisions
    if not multi:
        plot_confusion_matrix(
            metrics["confusion_matrix"],
            out_dir / artifacts.CONFUSION_PNG,
            title=f"{run.spec.name}: validation ({metrics['correct']}/{metrics['total']} correct)",
        )
    name = run.spec.name
    plot_training_curves(history, out_dir / artifacts.CURVES_PNG, f"{name}: training", best["epoch"])
    per_class = metrics["per_label" if multi else "per_class"]
    plot_per_class_metrics(
        per_class, out_dir / artifacts.PER_CLASS_PNG, f"{name}: per {'label' if multi else 'class'}"
    )

    run.step.progress.phase("exporting")
    check_images = eval_dataset(data.val[:ONNX_CHECK_IMAGES], run.preprocessing)
    check_inputs = torch.stack([check_images[i][0] for i in range(len(check_images))])
    metrics["onnx_max_abs_diff"] = export_onnx(model, check_inputs, out_dir / artifacts.ONNX)
    if run.settings.int8 and not multi:
        run.step.progress.phase("quantizing")
        metrics["int8"] = _export_int8(out_dir, data.train, run.preprocessing, run.val_loader, logits, labels)
    metrics["device"] = str(device.device)
    metrics["loader_workers"] = run.workers
    metrics["seconds"] = time.monotonic() - run.started
    artifacts.write_json(out_dir / artifacts.METRICS, metrics)
    return TrainResult(
        metrics=metrics,
        history=history,
        best_epoch=best["epoch"],
        epochs_run=len(history),
        stopped_early=metrics["stopped_early"],
        onnx_max_abs_diff=metrics["onnx_max_abs_diff"],
        device=str(device.device),
        info=run.info,
    )


def _recalibrate(run: _Run) -> Recalibration | None:
    """BatchNorm statistics re-estimated on a spread of the train images (kept where they lower the loss)."""
    spread = run.data.train[:: max(1, len(run.data.train) // RECALIBRATION_IMAGES)]
    loader = make_loader(eval_dataset(spread, run.preprocessing), run.settings.batch_size, run.workers)
    return recalibrate(run.model, loader, run.device, run.check_cancelled)


def _thresholds(run: _Run, epochs: int, predict: Predict) -> tuple[list[float], str]:
    """A multi-label run's decision thresholds and where they come from: the threshold setting, or per label
    the max-F1 threshold on cross-fitted train predictions (trainer/crossfit.py; the model's own train
    predictions with threshold_folds 0)."""
    settings, data = run.settings, run.data
    if settings.threshold is not None:
        return [settings.threshold] * len(data.classes), "the threshold setting"
    targets = np.stack([target for _, target in data.train])
    folds = min(settings.threshold_folds, len(data.train))
    if folds < 2:
        logits = predict(data.train)[0]
        return best_thresholds(sigmoid(logits), targets), "per label, max F1 on the train split"

    def fold_model(part: TrainData) -> np.ndarray:
        return _fold_logits(run, part, epochs)

    def starting(fold: int) -> None:
        run.step.progress.phase(CHOOSING_THRESHOLDS, (fold, folds))

    logits = out_of_fold_logits(data, folds, settings.seed, fold_model, starting)
    source = f"per label, max F1 on cross-fitted train predictions ({folds} folds), bagged"
    return bagged_thresholds(sigmoid(logits), targets, settings.seed), source


def _fold_logits(run: _Run, part: TrainData, epochs: int) -> np.ndarray:
    """A model trained like run's on part.train for the run's kept epochs (same schedule, BatchNorm
    re-estimation), its logits on part.val. Nothing is written but a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="fold-") as scratch:
        quiet: Report = lambda **_: None  # noqa: E731 - the caller reports the phase
        cancel = run.check_cancelled
        fold = _build(run.spec, run.settings, part, Path(scratch), {}, quiet, cancel, Placement())
        for epoch in range(1, epochs + 1):
            fold.recipe.start_epoch(fold.model, epoch)
            train_one_epoch(fold.model, fold.step, epoch)
            run.check_cancelled()
        if not fold.recipe.freeze_batchnorm:
            _recalibrate(fold)
        return evaluate(fold.model, fold.val_loader, fold.device)[1]


@dataclass
class StepContext:
    """What one training epoch needs besides the model."""

    loader: torch.utils.data.DataLoader
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: Device
    progress: Progress
    check_cancelled: Callable[[], None]
    losses: StepLosses  # this epoch's step losses, for its history row


class WarmupCosine:
    """Learning-rate factor per optimizer step: a linear warm-up over the first LR_WARMUP_SHARE of the steps,
    then a cosine that would reach 0 one epoch (`tail_steps`) after the last step, as a cosine stepped per
    epoch does; here it moves every step. A class, so the scheduler's state pickles.

    The last epoch still learns (4 epochs: at 0.23x on average rather than 0.06x for a cosine ending at
    the last step): short runs gain from it (bench/quality, README "Training recipe")."""

    def __init__(self, total_steps: int, tail_steps: int = 0) -> None:
        self.total = max(1, total_steps)
        self.warmup = max(1, round(self.total * LR_WARMUP_SHARE))
        self.end = self.total + max(0, tail_steps)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.end - self.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_one_epoch(model: nn.Module, step: StepContext, epoch: int) -> tuple[float, float]:
    """One pass over the training data; returns the mean loss and images per second."""
    model.train()
    total_loss, seen = 0.0, 0
    start = time.monotonic()
    for batch_index, (images, labels) in enumerate(step.loader, start=1):
        images, labels = step.device.put(images, labels)
        with step.device.autocast():
            loss = step.criterion(model(images), labels)
        step.optimizer.zero_grad(set_to_none=True)
        step.scaler.scale(loss).backward()
        step.scaler.step(step.optimizer)
        step.scaler.update()
        step.scheduler.step()

        batch = labels.shape[0]
        batch_loss = loss.item()
        total_loss += batch_loss * batch
        step.losses.add(epoch, batch_index, len(step.loader), batch_loss)
        seen += batch
        images_per_second = seen / max(time.monotonic() - start, 1e-9)
        step.progress.step(epoch, batch_index, total_loss / seen, images_per_second, step.losses.so_far)
        step.check_cancelled()
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
        total_loss += eval_loss_sum(logits, labels)
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    logits = torch.cat(all_logits).numpy()
    labels = torch.cat(all_labels).numpy()
    return total_loss / max(len(labels), 1), logits, labels


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


def _workload(settings: TrainSettings, data: TrainData, steps: int) -> Workload:
    """What the run reads after its first step, for the time-left estimate (trainer/progress.py)."""
    images_after = {
        "evaluating": len(data.val) + len(data.test),
        "exporting": min(ONNX_CHECK_IMAGES, len(data.val)),
    }
    if not settings.freeze_batchnorm:
        images_after[RECALIBRATING] = len(data.train[:: max(1, len(data.train) // RECALIBRATION_IMAGES)])
    if settings.int8:
        from trainer.quantize import CALIBRATION_IMAGES

        images_after["quantizing"] = min(CALIBRATION_IMAGES, len(data.train)) + len(data.val)
    steps_per_kept_epoch = {}
    if data.mode == MULTI and settings.threshold is None and settings.threshold_folds:
        # Each fold model trains on (folds - 1) / folds of the images, for the epochs the run keeps.
        folds = settings.threshold_folds
        steps_per_kept_epoch[CHOOSING_THRESHOLDS] = (folds - 1) * steps
        images_after[CHOOSING_THRESHOLDS] = len(data.train) + folds * images_after.get(RECALIBRATING, 0)
    score = "mAP" if data.mode == MULTI else "accuracy"
    return Workload(
        settings.epochs, steps, settings.batch_size, len(data.val), images_after, steps_per_kept_epoch, score
    )


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
