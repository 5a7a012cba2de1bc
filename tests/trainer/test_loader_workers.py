"""Training with data-loader worker processes under every start method this platform has (fork, spawn,
forkserver): datasets, transforms and samplers travel to the workers pickled, so none may be a closure."""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.models import TINY_SETTINGS, colour_train_data
from trainer.catalogue import get_architecture
from trainer.config import TrainSettings
from trainer.data import EvalTransform, train_transform
from trainer.engine import fine_tune


@pytest.fixture
def start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    """The default start method set to the test's parameter for the test's duration."""
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(request.param, force=True)
    yield request.param
    multiprocessing.set_start_method(before, force=True)


@pytest.mark.parametrize("start_method", multiprocessing.get_all_start_methods(), indirect=True)
def test_one_epoch_with_loader_workers(start_method: str, tmp_path: Path) -> None:
    data = colour_train_data(tmp_path / "images", per_class=6)
    settings = TrainSettings(**{**TINY_SETTINGS, "epochs": 1, "num_workers": 2, "augmentation": "light"})
    result = fine_tune(get_architecture("resnet18"), settings, data, tmp_path / "model")
    assert result is not None and result.epochs_run == 1
    assert (tmp_path / "model" / "model.onnx").is_file()


@pytest.mark.parametrize("level", ["none", "light", "strong"])
def test_every_transform_pickles(level: str) -> None:
    spec = get_architecture("resnet18").preprocessing(32)
    for transform in (EvalTransform(spec), train_transform(spec, level)):
        assert type(pickle.loads(pickle.dumps(transform))) is type(transform)
