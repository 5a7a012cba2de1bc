"""The probe head (LP-FT) in a 2-process training: every rank fits the same head, so 2 processes still
compute what 1 does (a model without batch statistics, as in tests/training/test_distributed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.models import colour_train_data
from tests.training.test_distributed import SETTINGS, GroupNormResNet18
from trainer import artifacts
from trainer.config import TrainSettings
from trainer.distributed import fine_tune_distributed
from trainer.engine import fine_tune


@pytest.mark.slow
def test_two_processes_fit_the_probe_head_one_process_fits(tmp_path: Path) -> None:
    data = colour_train_data(tmp_path / "images", per_class=8)
    # "pretrained" turns the recipe on (the weights stay random: the probe fits a head all the same).
    settings = TrainSettings.model_validate(
        {
            **SETTINGS,
            "epochs": 1,
            "pretrained": True,
            "head_init": "probe",
            "warmup_epochs": 0,
            "num_workers": 0,
        }
    )
    one = fine_tune(GroupNormResNet18(), settings, data, tmp_path / "one")
    two = fine_tune_distributed(GroupNormResNet18(), settings, data, tmp_path / "two", processes=2)

    assert (one.processes, two.processes) == (1, 2)
    assert two.history[0]["train_loss"] == pytest.approx(one.history[0]["train_loss"], rel=1e-3)
    assert two.history[0]["val_loss"] == pytest.approx(one.history[0]["val_loss"], rel=1e-3)
    weights = [torch.load(tmp_path / run / artifacts.WEIGHTS, weights_only=True) for run in ("one", "two")]
    for key in ("fc.weight", "fc.bias"):
        assert torch.allclose(weights[0][key], weights[1][key], atol=1e-4), key
