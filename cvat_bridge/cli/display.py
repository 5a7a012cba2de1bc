"""What the model commands print: aligned tables, a training's live progress bar, metrics, the epoch table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

from cvat_bridge.jobs.store import TERMINAL_STATES, request_cancel
from cvat_bridge.model_lookup import get_model
from cvat_bridge.services import Services

POLL_SECONDS = 0.5


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> list[str]:
    """Lines of a plain-text table, each column as wide as its widest cell. align: one letter per column,
    "l" or "r" (default: the first column left, the others right)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    numeric = [letter == "r" for letter in (align or "l" + "r" * (len(headers) - 1))]

    def line(values: Sequence[str]) -> str:
        aligned = (
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        )
        return "  ".join(aligned).rstrip()

    return [line(list(headers)), *(line(row) for row in cells)]


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> None:
    for text in format_table(headers, rows, align):
        click.echo(text)


def follow(services: Services, model_id: int, cancel_on_interrupt: bool = True) -> str:
    """Show the training's progress until it ends; returns its final status.

    The bar counts epochs (a fraction during an epoch); before the first step it names the phase (loading
    weights, fitting the probe head). Ctrl-C asks the job to stop (with cancel_on_interrupt) and waits for it;
    a second Ctrl-C leaves at once.
    """
    try:
        return _follow(services, model_id)
    except KeyboardInterrupt:
        if not cancel_on_interrupt:
            raise
        request_cancel(services.db, get_model(services, model_id).job_id)
        click.echo("cancelling (Ctrl-C again to leave without waiting)...", err=True)
        return _follow(services, model_id)


def _follow(services: Services, model_id: int) -> str:
    from tqdm import tqdm

    model = get_model(services, model_id)
    epochs = model.settings.get("epochs") or 1
    bar_format = "{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]{postfix}"
    with tqdm(total=epochs, bar_format=bar_format, dynamic_ncols=True, desc="queued") as bar:
        while True:
            job = get_model(services, model_id).job
            progress = job.progress or {}
            epoch, steps = progress.get("epoch") or 0, progress.get("steps") or 0
            if job.status == "succeeded":
                bar.n = epochs
            elif steps:
                bar.n = min(max(epoch - 1 + progress.get("step", 0) / steps, 0), epochs)
            bar.set_description_str(_description(job.status, progress, epochs), refresh=False)
            bar.set_postfix_str(_postfix(progress), refresh=False)
            bar.refresh()
            if job.status in TERMINAL_STATES:
                return job.status
            time.sleep(POLL_SECONDS)


def _description(status: str, progress: dict[str, Any], epochs: int) -> str:
    phase = progress.get("phase")
    if status in TERMINAL_STATES:
        return status
    if phase == "training" and progress.get("epoch"):
        return f"epoch {progress['epoch']}/{epochs}"
    return phase or status


def _postfix(progress: dict[str, Any]) -> str:
    parts = []
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4f}")
    if progress.get("val_accuracy") is not None:
        parts.append(f"last val {_short(progress.get('val_score'))} {progress['val_accuracy']:.1%}")
    if progress.get("images_per_second"):
        parts.append(f"{progress['images_per_second']:.0f} img/s")
    return ", ".join(parts)


def _short(score: str | None) -> str:
    return "mAP" if score == "mAP" else "acc"


def _multi(metrics: dict[str, Any]) -> bool:
    return metrics.get("mode") == "multi"


def score_text(metrics: dict[str, Any]) -> str:
    """A trained model's validation score for a list: accuracy, or "mAP x%" (multi-label); "-" before."""
    if _multi(metrics):
        return f"mAP {metrics['map']:.1%}"
    return f"{metrics['accuracy']:.1%}" if metrics.get("accuracy") is not None else "-"


def print_metrics(metrics: dict[str, Any], classes: Sequence[str]) -> None:
    """Validation (and test) accuracy, then precision, recall, f1 and support per class; multi-label: mAP and
    F1 at the thresholds, then per label with AP and the threshold."""
    if _multi(metrics):
        _print_multilabel_metrics(metrics, classes)
        return
    click.echo(
        f"validation accuracy {metrics['accuracy']:.1%} ({metrics['correct']}/{metrics['total']})"
        + (f", top-5 {metrics['top5']:.1%}" if metrics.get("top5") is not None else "")
    )
    if "test" in metrics:
        test = metrics["test"]
        click.echo(f"test accuracy {test['accuracy']:.1%} ({test['correct']}/{test['total']})")
    _print_warnings(metrics)
    rows = []
    for name in classes:
        row = metrics["per_class"][name]
        rows.append([name, *(f"{row[key]:.3f}" for key in ("precision", "recall", "f1")), row["support"]])
    echo_table(["class", "precision", "recall", "f1", "support"], rows)


def _print_multilabel_metrics(metrics: dict[str, Any], classes: Sequence[str]) -> None:
    click.echo(
        f"validation mAP {metrics['map']:.1%}, macro F1 {metrics['macro']['f1']:.3f}, micro F1 "
        f"{metrics['micro']['f1']:.3f}, exact match {metrics['subset_accuracy']:.1%} "
        f"(thresholds: {metrics['thresholds']['source']}; at a fixed 0.5: macro F1 "
        f"{metrics['at_0_5']['macro']['f1']:.3f})"
    )
    if "test" in metrics:
        click.echo(f"test mAP {metrics['test']['map']:.1%}, macro F1 {metrics['test']['macro']['f1']:.3f}")
    _print_warnings(metrics)
    rows = []
    for name in classes:
        row = metrics["per_label"][name]
        scores = (f"{row[key]:.3f}" for key in ("precision", "recall", "f1", "ap", "threshold"))
        rows.append([name, *scores, row["support"]])
    echo_table(["label", "precision", "recall", "f1", "ap", "threshold", "support"], rows)


def _print_warnings(metrics: dict[str, Any]) -> None:
    for warning in metrics.get("warnings") or []:
        click.echo(f"warning: {warning}")


def print_epochs(metrics: dict[str, Any]) -> None:
    """The per-epoch table (epoch 0: the probe head, when the recipe fitted one), the kept epoch marked *,
    and which epoch was kept and why."""
    best = metrics.get("best_epoch")
    probe = metrics.get("probe_head")
    rows: list[list[Any]] = []
    if probe is not None:
        rows.append([f"{'*' if best == 0 else ' '}0", "-", "-", f"{probe['val_accuracy']:.1%}", "-"])
    for entry in metrics.get("history") or []:
        rows.append(
            [
                f"{'*' if entry['epoch'] == best else ' '}{entry['epoch']}",
                f"{entry['train_loss']:.4f}",
                f"{entry['val_loss']:.4f}",
                f"{entry['val_accuracy']:.1%}",
                f"{entry['seconds']:.1f}s",
            ]
        )
    if not rows:
        return
    score = "val mAP" if _multi(metrics) else "val acc"
    echo_table(["epoch", "train loss", "val loss", score, "time"], rows)
    click.echo(kept_line(metrics))


def kept_line(metrics: dict[str, Any]) -> str:
    """Which epoch's weights the model keeps, and why (it agrees with the validation accuracy above)."""
    best, run = metrics["best_epoch"], metrics["epochs_run"]
    score = ("mAP", metrics["map"]) if _multi(metrics) else ("accuracy", metrics["accuracy"])
    why = f"best val {score[0]}, {score[1]:.1%}"
    stopped = f"; stopped early after {run} epochs" if metrics.get("stopped_early") else ""
    if best == 0:
        return (
            f"kept epoch 0, the probe head fitted on the frozen backbone ({why}): no training epoch of {run} "
            f"beat it{stopped}"
        )
    return f"kept epoch {best} of {run} ({why}){stopped}"
