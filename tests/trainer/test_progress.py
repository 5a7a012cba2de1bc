"""The time left during a multi-label run's cross-fit counts the fold models' epochs as the run kept them: a
run that kept epoch 2 of 10 is not told it has eight epochs of fold training per fold still to come."""

from __future__ import annotations

from typing import Any

import pytest

from trainer import progress as progress_module
from trainer.progress import CHOOSING_THRESHOLDS, Progress, Workload


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _one_timed_epoch(monkeypatch: pytest.MonkeyPatch) -> tuple[Progress, list[dict[str, Any]]]:
    """A 10-epoch run of 4 steps per epoch after its first epoch: 1 s per step, 0.1 s per validation image."""
    clock = FakeClock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    reports: list[dict[str, Any]] = []
    workload = Workload(
        epochs=10,
        steps=4,
        batch_size=8,
        val_images=16,
        images_after={CHOOSING_THRESHOLDS: 0},
        steps_per_kept_epoch={CHOOSING_THRESHOLDS: 8},  # 3 folds of 4 steps per epoch, 2 trained per fold
    )
    progress = Progress(lambda **report: reports.append(report), workload)
    progress.start_epoch()
    for step in range(1, 5):
        clock.now += 1.0
        progress.step(1, step, 0.5, 8.0)
    progress.start_validation()
    clock.now += 1.6
    progress.validated()
    progress.epoch_done(1, 0.5, 0.6, 0.7, [])
    return progress, reports


def test_the_cross_fit_estimate_follows_the_kept_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    progress, reports = _one_timed_epoch(monkeypatch)
    progress.phase(CHOOSING_THRESHOLDS, (0, 3))
    assert reports[-1]["eta_seconds"] == pytest.approx(8 * 10 * 1.0)  # until training ends: every epoch

    progress.kept(2)
    progress.phase(CHOOSING_THRESHOLDS, (0, 3))
    assert reports[-1] == {"phase": "choosing thresholds (1 of 3)", "eta_seconds": pytest.approx(8 * 2 * 1.0)}
    progress.phase(CHOOSING_THRESHOLDS, (2, 3))
    assert reports[-1]["eta_seconds"] == pytest.approx(8 * 2 * 1.0 / 3)
