"""Classification metrics from logits: accuracy = correct / total, top-5, per-class P/R/F1, confusion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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


def plot_confusion_matrix(confusion: dict[str, Any], path: Path, title: str = "Confusion matrix") -> None:
    """The confusion matrix as a PNG (rows: true class, columns: predicted), counts written in the cells."""
    from matplotlib.figure import Figure

    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    size = min(4 + 0.45 * len(labels), 20)
    figure = Figure(figsize=(size, size), dpi=100)
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(labels) <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, column), value in np.ndenumerate(matrix):
            color = "white" if value > threshold else "black"
            axes.text(column, row, str(value), ha="center", va="center", color=color, fontsize=8)
    figure.tight_layout()
    with artifacts.writing(Path(path)) as partial:
        figure.savefig(partial, format="png")
