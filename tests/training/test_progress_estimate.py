"""The time left that a training run reports counts every phase still to come (epochs, validation passes,
BatchNorm re-estimation, evaluation, export, int8), the scores it reports say which epoch they are from, and
its step reports carry the running epoch's loss curve."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.helpers.models import TINY_SETTINGS, colour_train_data
from trainer.catalogue import get_architecture
from trainer.config import TrainSettings
from trainer.engine import fine_tune


def test_time_left_covers_every_phase_and_scores_name_their_epoch(tmp_path: Path) -> None:
    data = colour_train_data(tmp_path / "images", per_class=24)
    settings = TrainSettings(**{**TINY_SETTINGS, "epochs": 3, "int8": True})
    reports: list[tuple[float, dict[str, Any]]] = []
    result = fine_tune(
        get_architecture("resnet18"),
        settings,
        data,
        tmp_path / "model",
        report=lambda **fields: reports.append((time.monotonic(), fields)),
    )
    finished = time.monotonic()
    assert result is not None

    phases = [fields["phase"] for _, fields in reports]
    for phase in ("re-estimating BatchNorm statistics", "evaluating", "exporting", "quantizing"):
        assert phase in phases
    timed = [
        (at, fields) for at, fields in reports if phases.index("training") <= reports.index((at, fields))
    ]
    # From the first training report on, every report has an estimate, and none says 0 before the end.
    assert all(fields["eta_seconds"] is not None and fields["eta_seconds"] > 0 for _, fields in timed), timed
    # The first estimate (one step in: the finishing phases are most of this run) is within a factor of 3
    # of the time that was really left.
    first_at, first = timed[0]
    left = finished - first_at
    assert left / 3 <= first["eta_seconds"] <= 3 * left, (first["eta_seconds"], left)
    # Step reports carry the running epoch's loss curve so far (drawn live); its end hands it to history.
    live = [f for _, f in reports if f.get("phase") == "training" and "val_epoch" not in f]
    assert live and all(all(f["epoch"] - 1 < x <= f["epoch"] for x, _ in f["step_losses"]) for f in live), (
        live
    )
    assert all(f["step_losses"] == [] for _, f in reports if "val_epoch" in f)
    # Each epoch's scores come with the epoch they belong to.
    ends = [fields for _, fields in reports if "val_accuracy" in fields]
    assert [fields["val_epoch"] for fields in ends] == [1, 2, 3]
    assert [fields["val_accuracy"] for fields in ends] == [row["val_accuracy"] for row in result.history]
