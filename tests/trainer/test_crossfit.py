"""Multi-label thresholds are chosen on cross-fitted train predictions: the folds share out every label, each
train image is scored by a fold model that never trained on it, and a run's thresholds are the max-F1 ones
of those out-of-fold scores, bagged (the median over bootstrap resamples); the progress names each fold with
the time left."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer.engine
from tests.helpers.models import TINY_SETTINGS
from tests.helpers.multilabel import blocks_train_data
from trainer.catalogue import get_architecture
from trainer.config import TrainSettings
from trainer.crossfit import fold_of_each_image, out_of_fold_logits
from trainer.data import TrainData
from trainer.engine import fine_tune
from trainer.multilabel import bagged_thresholds, sigmoid


def test_folds_take_their_share_of_every_label(tmp_path: Path) -> None:
    data = blocks_train_data(tmp_path)
    folds = fold_of_each_image(data, 3, seed=0)
    assert folds == fold_of_each_image(data, 3, seed=0) and sorted(set(folds)) == [0, 1, 2]
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= 2  # labels first, then sizes
    for column, label in enumerate(data.classes):
        per_fold = Counter(
            fold for fold, (_, target) in zip(folds, data.train, strict=True) if target[column]
        )
        share = sum(per_fold.values()) / 3
        assert all(abs(per_fold[fold] - share) <= 1 for fold in range(3)), (label, per_fold)
    assert fold_of_each_image(data, 3, seed=1) != folds


def test_each_image_is_scored_by_a_model_that_never_trained_on_it(tmp_path: Path) -> None:
    data = blocks_train_data(tmp_path)
    trained_on: list[set[str]] = []

    def fold_model(part: TrainData) -> np.ndarray:
        seen = {path for path, _ in part.train}
        held = {path for path, _ in part.val}
        assert not seen & held and seen | held == {path for path, _ in data.train} and not part.test
        trained_on.append(seen)
        return np.full((len(part.val), len(data.classes)), float(len(trained_on)), dtype=np.float32)

    started: list[int] = []
    logits = out_of_fold_logits(data, 3, 0, fold_model, started.append)
    assert started == [0, 1, 2] and len(trained_on) == 3
    for (path, _), row in zip(data.train, logits, strict=True):
        model = int(row[0]) - 1  # the fold model that scored this image
        assert path not in trained_on[model]


def test_a_run_picks_max_f1_thresholds_on_out_of_fold_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = blocks_train_data(tmp_path / "images")
    recorded: list[np.ndarray] = []

    def spy(*args: Any, **kwargs: Any) -> np.ndarray:
        recorded.append(out_of_fold_logits(*args, **kwargs))
        return recorded[-1]

    monkeypatch.setattr(trainer.engine, "out_of_fold_logits", spy)
    reports: list[dict[str, Any]] = []
    settings = TrainSettings(**{**TINY_SETTINGS, "epochs": 2, "threshold_folds": 2})
    result = fine_tune(
        get_architecture("resnet18"), settings, data, tmp_path / "model", report=lambda **f: reports.append(f)
    )
    assert result is not None and len(recorded) == 1
    targets = np.stack([target for _, target in data.train])
    expected = bagged_thresholds(sigmoid(recorded[0]), targets, settings.seed)
    chosen = result.metrics["thresholds"]
    assert chosen["source"] == "per label, max F1 on cross-fitted train predictions (2 folds), bagged"
    assert list(chosen["values"].values()) == pytest.approx(expected)
    folds = [f for f in reports if f["phase"].startswith("choosing thresholds")]
    assert [f["phase"] for f in folds] == ["choosing thresholds (1 of 2)", "choosing thresholds (2 of 2)"]
    assert all(f["eta_seconds"] and f["eta_seconds"] > 0 for f in folds)
    assert folds[0]["eta_seconds"] > folds[1]["eta_seconds"]


def test_folds_zero_keeps_the_models_own_train_predictions(tmp_path: Path) -> None:
    data = blocks_train_data(tmp_path / "images", count=40)
    settings = TrainSettings(**{**TINY_SETTINGS, "epochs": 1, "threshold_folds": 0})
    result = fine_tune(get_architecture("resnet18"), settings, data, tmp_path / "model")
    assert result is not None
    assert result.metrics["thresholds"]["source"] == "per label, max F1 on the train split"
    with pytest.raises(ValueError, match="0 .* or at least 2"):
        TrainSettings(threshold_folds=1)
