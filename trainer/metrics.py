"""Classification metrics from logits (accuracy = correct / total, top-5, per-class P/R/F1, confusion) and
their plots."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where it is used
    from matplotlib.figure import Figure

    from trainer.data import TrainData

from trainer import artifacts


def classification_metrics(logits: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Metrics of predictions (argmax of logits) against labels (class indices)."""
    num_classes = len(classes)
    predictions = logits.argmax(axis=1)
    total = int(len(labels))
    correct = int((predictions == labels).sum())
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows: true class, columns: predicted
    np.add.at(confusion, (labels, predictions), 1)

    per_class: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(classes):
        true_positives = int(confusion[index, index])
        support = int(confusion[index].sum())
        predicted = int(confusion[:, index].sum())
        precision = true_positives / predicted if predicted else 0.0
        recall = true_positives / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}

    macro = {
        key: float(np.mean([row[key] for row in per_class.values()])) for key in ("precision", "recall", "f1")
    }
    top5 = None
    if num_classes >= 5 and total:
        top = np.argsort(-logits, axis=1)[:, :5]
        top5 = float((top == labels[:, None]).any(axis=1).mean())
    return {
        "accuracy": correct / total if total else 0.0,
        "correct": correct,
        "total": total,
        "top5": top5,
        "per_class": per_class,
        "macro": macro,
        "confusion_matrix": {"labels": list(classes), "matrix": confusion.tolist()},
    }


def majority_baseline(
    train: Sequence[tuple[str, int]], labels: np.ndarray, logits: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """What always answering the train split's largest class scores on these labels, and whether the model
    (its logits) beats it and predicts more than one class: a model that does neither learnt nothing."""
    majority = Counter(label for _, label in train).most_common(1)[0][0]
    accuracy = float((labels == majority).mean()) if len(labels) else 0.0
    predictions = logits.argmax(axis=1)
    model_accuracy = float((predictions == labels).mean()) if len(labels) else 0.0
    predicted_classes = len(np.unique(predictions))
    problems = []
    if model_accuracy <= accuracy:
        problems.append(
            f"no better than always answering {classes[majority]!r} ({accuracy:.1%} of the validation images)"
        )
    if predicted_classes < 2:
        problems.append(f"predicts {classes[int(predictions[0])]!r} for every validation image")
    return {
        "majority_class": classes[majority],
        "accuracy": accuracy,
        "predicted_classes": predicted_classes,
        "beats_baseline": not problems,
        "problems": problems,
    }


def prediction_rows(data: TrainData, logits: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """predictions.json: per validation image (in data.val's order) its path (relative to ``data.root`` when
    given), true and predicted class and the predicted class's softmax probability (4 digits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    return [
        {
            "path": Path(path).relative_to(data.root).as_posix() if data.root else path,
            "true": data.classes[int(true)],
            "predicted": data.classes[int(guess)],
            "confidence": round(float(probabilities[index, guess]), 4),
        }
        for index, ((path, _), true, guess) in enumerate(zip(data.val, labels, predicted, strict=True))
    ]


# Plots: class names are shown as they are (never read as mathtext: a class may be named "$x^$"), long ones
# shortened; titles wrap to the figure's width; the layout makes room for every label and title.
MAX_LABEL_CHARS = 32
MAX_BARS = 60  # classes in the per-class chart (the lowest F1 first when there are more)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "…"


def _title(figure: Figure, title: str) -> None:
    """The title over the whole figure, wrapped to its width (a character of the title's 14.4 pt font is at
    most about 11 px wide at 100 dpi)."""
    width_chars = max(20, int(figure.get_figwidth() * figure.dpi / 11))
    figure.suptitle(textwrap.fill(title, width_chars), parse_math=False)


def _save(figure: Figure, path: Path) -> Figure:
    with artifacts.writing(Path(path)) as partial:
        figure.savefig(partial, format="png")
    return figure


def plot_confusion_matrix(confusion: dict[str, Any], path: Path, title: str = "Confusion matrix") -> Figure:
    """The confusion matrix as a PNG (rows: true class, columns: predicted), counts written in the cells."""
    labels, matrix = [_label(name) for name in confusion["labels"]], np.asarray(confusion["matrix"])
    size = min(5 + 0.45 * len(labels), 20)
    figure = _figure(size, size)
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right", parse_math=False)
    axes.set_yticks(range(len(labels)), labels, parse_math=False)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    _title(figure, title)
    if len(labels) <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, column), value in np.ndenumerate(matrix):
            color = "white" if value > threshold else "black"
            axes.text(column, row, str(value), ha="center", va="center", color=color, fontsize=8)
    return _save(figure, path)


def plot_training_curves(
    history: list[dict[str, Any]], path: Path, title: str = "Training", best_epoch: int | None = None
) -> Figure:
    """Train and validation loss, and validation accuracy, per epoch; the kept epoch marked (0: the probe
    head, before any training epoch)."""
    epochs = [row["epoch"] for row in history]
    figure = _figure(10, 4)
    loss, accuracy = figure.subplots(1, 2)
    loss.plot(epochs, [row["train_loss"] for row in history], "o-", label="train loss")
    loss.plot(epochs, [row["val_loss"] for row in history], "o-", label="validation loss")
    loss.set_ylabel("loss")
    accuracy.plot(epochs, [row["val_accuracy"] for row in history], "o-", color="tab:green")
    accuracy.set_ylabel("validation accuracy")
    for axes in (loss, accuracy):
        axes.set_xlabel("epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        if best_epoch is not None:
            axes.axvline(best_epoch, color="grey", linestyle="--", label=f"kept: epoch {best_epoch}")
    loss.legend()
    accuracy.legend()
    _title(figure, title)
    return _save(figure, path)


def plot_per_class_metrics(
    per_class: dict[str, dict[str, Any]], path: Path, title: str = "Per class"
) -> Figure:
    """Precision, recall and F1 of each class as horizontal bars (the lowest F1 first beyond MAX_BARS)."""
    names = list(per_class)
    if len(names) > MAX_BARS:
        names = sorted(names, key=lambda name: per_class[name]["f1"])[:MAX_BARS]
        title += f" (the {MAX_BARS} classes of lowest F1)"
    figure = _figure(8, min(2 + 0.45 * len(names), 30))
    axes = figure.add_subplot()
    rows = np.arange(len(names))
    for offset, key in zip((-0.27, 0, 0.27), ("precision", "recall", "f1"), strict=True):
        axes.barh(rows + offset, [per_class[name][key] for name in names], height=0.27, label=key)
    axes.set_yticks(rows, [_label(name) for name in names], parse_math=False)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="lower right")
    _title(figure, title)
    return _save(figure, path)
