"""The plots a user downloads (confusion matrix, training curves, per-class bars): any class name is shown as
it is (never read as mathtext), long names are shortened, and no title or label is cut off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from trainer.metrics import (
    MAX_LABEL_CHARS,
    classification_metrics,
    plot_confusion_matrix,
    plot_per_class_metrics,
    plot_training_curves,
)

ODD_NAMES = ["$x^$", "$\\alpha$", "back\\slash", "{braces}", "50% $", "ünïcødé", "a^b_c", "n" * 300]
TITLE = "timm/tf_efficientnet_lite0: validation (149/153 correct) of a model with a long name"


def sticking_out(figure: Figure) -> list[str]:
    """The texts drawn (partly) outside the figure (ticks out of the axes' view are not drawn)."""
    figure.draw_without_rendering()
    not_drawn = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if not low <= tick.get_loc() <= high:
                    not_drawn |= {id(tick.label1), id(tick.label2)}
    box = figure.bbox
    outside = []
    for text in figure.findobj(Text):
        if text.get_visible() and text.get_text() and id(text) not in not_drawn:
            extent = text.get_window_extent()
            inside_x = box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1
            if not (inside_x and box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1):
                outside.append(text.get_text())
    return outside


def shown(names: list[str]) -> list[str]:
    return [name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "…" for name in names]


@pytest.fixture
def metrics() -> dict:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(ODD_NAMES), 200)
    logits = rng.normal(size=(200, len(ODD_NAMES)))
    logits[np.arange(200), labels] += 2
    return classification_metrics(logits, labels, ODD_NAMES)


def test_confusion_matrix_shows_odd_class_names_and_its_whole_title(metrics: dict, tmp_path: Path) -> None:
    figure = plot_confusion_matrix(metrics["confusion_matrix"], tmp_path / "c.png", title=TITLE)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == shown(ODD_NAMES)
    assert [t.get_text() for t in axes.get_yticklabels()] == shown(ODD_NAMES)
    assert sticking_out(figure) == []
    assert Image.open(tmp_path / "c.png").format == "PNG"


def test_confusion_matrix_of_two_classes_keeps_its_title(tmp_path: Path) -> None:
    confusion = {"labels": ["ants", "bees"], "matrix": [[68, 2], [2, 81]]}
    figure = plot_confusion_matrix(confusion, tmp_path / "c.png", title=TITLE)
    assert sticking_out(figure) == []


def test_per_class_bars_show_each_class_and_its_scores(metrics: dict, tmp_path: Path) -> None:
    figure = plot_per_class_metrics(metrics["per_class"], tmp_path / "p.png", title=TITLE)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == shown(ODD_NAMES)
    bars = [patch.get_width() for patch in axes.patches]
    expected = [metrics["per_class"][n][key] for key in ("precision", "recall", "f1") for n in ODD_NAMES]
    assert bars == pytest.approx(expected)
    assert sticking_out(figure) == []
    assert Image.open(tmp_path / "p.png").format == "PNG"


def test_per_class_bars_of_many_classes_show_the_weakest(tmp_path: Path) -> None:
    per_class = {f"class {i}": {"precision": 1.0, "recall": 1.0, "f1": 1 - i / 1000} for i in range(1000)}
    figure = plot_per_class_metrics(per_class, tmp_path / "p.png")
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[0] == "class 999" and len(labels) == 60
    assert "lowest F1" in figure.get_suptitle()


def test_training_curves_plot_each_epoch_and_mark_the_kept_one(tmp_path: Path) -> None:
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5 + e / 10}
        for e in (1, 2, 3)
    ]
    figure = plot_training_curves(history, tmp_path / "t.png", title=TITLE, best_epoch=2)
    loss, accuracy = figure.axes
    assert list(loss.lines[0].get_ydata()) == pytest.approx([1, 0.5, 1 / 3])  # train loss
    assert list(loss.lines[1].get_ydata()) == pytest.approx([1.2, 0.6, 0.4])  # validation loss
    assert list(accuracy.lines[0].get_ydata()) == pytest.approx([0.6, 0.7, 0.8])
    assert list(accuracy.lines[1].get_xdata()) == [2, 2]  # the kept epoch
    assert "kept: epoch 2" in [t.get_text() for t in accuracy.get_legend().get_texts()]
    assert sticking_out(figure) == []
    assert Image.open(tmp_path / "t.png").format == "PNG"
