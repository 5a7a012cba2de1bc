"""Training in 2 processes (DistributedDataParallel, gloo on the CPU): through the real job path, as accurate
as 1 process on the same data, seed and epochs, with one set of files, progress relayed and cancel honoured;
for a model without batch statistics, the same numbers as 1 process."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from cvat_bridge.db import Model
from cvat_bridge.jobs.runner import run_job
from cvat_bridge.jobs.store import get_job, request_cancel
from cvat_bridge.runtime.imaging import Preprocessing, open_image, preprocess
from cvat_bridge.services import Services, set_services
from cvat_bridge.training import create_training, get_model
from tests.conftest import make_settings
from tests.helpers.models import (
    TINY_SETTINGS,
    colour_train_data,
    make_color_collection,
    train_model,
    trained_model_dir,
)
from trainer import artifacts
from trainer.artifacts import load_torch_model
from trainer.catalogue import ArchitectureSpec, get_architecture
from trainer.config import TrainSettings
from trainer.distributed import ShardedSampler, fine_tune_distributed
from trainer.engine import fine_tune

# 15 images per class, 30% of them for validation: a val split of odd size (shares of 8 and 7 images).
PER_CLASS = 15
SETTINGS = {**TINY_SETTINGS, "epochs": 3, "batch_size": 8}
ARTIFACT_FILES = {
    artifacts.MODEL_JSON,
    artifacts.WEIGHTS,
    artifacts.CHECKPOINT,
    artifacts.ONNX,
    artifacts.METRICS,
    artifacts.HISTORY,
    artifacts.CONFUSION_PNG,
    artifacts.CURVES_PNG,
    artifacts.PER_CLASS_PNG,
    artifacts.SPLIT,
    artifacts.PREDICTIONS,
}


@pytest.fixture
def new_children() -> Callable[[], set[multiprocessing.process.BaseProcess]]:
    """Child processes started since the test began (other tests' job workers may still be alive)."""
    before = set(multiprocessing.active_children())
    return lambda: set(multiprocessing.active_children()) - before


@pytest.fixture
def two_processes(services: Services) -> Iterator[Services]:
    """Services on the same data dir and database whose worker trains with CVAT_BRIDGE_TRAIN_PROCESSES=2."""
    distributed = Services(make_settings(services.settings.data_dir, train_processes=2))
    set_services(distributed)
    yield distributed
    distributed.db.dispose()
    set_services(services)


def _recomputed_correct(services: Services, model: Model) -> tuple[int, int]:
    """(correct, total) of the saved weights' predictions on every image of the model's val split."""
    folder = trained_model_dir(services, model.id)
    torch_model, info = load_torch_model(folder)
    split = json.loads((folder / artifacts.SPLIT).read_text())["val"]
    spec = Preprocessing.from_dict(info["preprocessing"])
    collection_dir = services.storage.collection_dir(model.collection_id)
    inputs = torch.stack(
        [torch.from_numpy(preprocess(open_image(collection_dir / path), spec)) for path, _ in split]
    )
    with torch.no_grad():
        predicted = [info["classes"][i] for i in torch_model(inputs).argmax(1).tolist()]
    return sum(p == label for p, (_, label) in zip(predicted, split, strict=True)), len(split)


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


@pytest.mark.slow
def test_two_processes_train_as_well_as_one_and_write_one_set_of_files(
    services: Services, two_processes: Services, new_children
) -> None:
    collection_id = make_color_collection(services, per_class=PER_CLASS)
    train = {"collection_id": collection_id, "architecture": "resnet18", "settings": SETTINGS}
    set_services(services)
    single = train_model(services, name="one-process", **train)
    set_services(two_processes)
    ddp = train_model(two_processes, name="two-processes", **train)

    assert single.job.status == ddp.job.status == "succeeded", (single.job.error, ddp.job.error)
    assert (single.job.result["processes"], ddp.job.result["processes"]) == (1, 2)  # ranks that joined
    # The accuracy of the whole val split (both shares), recomputed from the saved weights.
    for model in (single, ddp):
        correct, total = _recomputed_correct(services, model)
        assert (model.metrics["correct"], model.metrics["total"]) == (correct, total)
        assert total == 15 and model.metrics["accuracy"] == correct / total
    # Same data, seed, epochs and global batches (ShardedSampler), so the same learning, but not the same
    # numbers: resnet18's BatchNorm normalises each process's half batch by that half's statistics (the next
    # test shows the numbers are the same without batch statistics). Both reach clearly-better-than-chance
    # accuracy (chance: 1/3) and differ by at most 2 of the 15 val images.
    assert single.metrics["accuracy"] >= 0.8 and ddp.metrics["accuracy"] >= 0.8
    assert abs(single.metrics["accuracy"] - ddp.metrics["accuracy"]) <= 2 / 15

    # One set of files, as one process writes them: nothing twice, nothing half-written (.partial) left.
    folder = trained_model_dir(services, ddp.id)
    assert _files(folder) == _files(trained_model_dir(services, single.id)) == ARTIFACT_FILES
    history = json.loads((folder / artifacts.HISTORY).read_text())
    assert [entry["epoch"] for entry in history] == [1, 2, 3]  # one entry per epoch, not one per process
    assert history == ddp.metrics["history"]
    checkpoint = torch.load(folder / artifacts.CHECKPOINT, weights_only=False)
    assert checkpoint["epoch"] == 3 and [entry["epoch"] for entry in checkpoint["history"]] == [1, 2, 3]
    assert json.loads((folder / artifacts.METRICS).read_text())["total"] == 15
    assert json.loads((folder / artifacts.MODEL_JSON).read_text())["settings"]["batch_size"] == 8  # global
    # Progress came back from the ranks to the job: the last epoch, with its history.
    progress = ddp.job.progress
    assert progress["epoch"] == progress["epochs"] == 3 and len(progress["history"]) == 3
    assert not new_children()  # every rank has exited


@pytest.mark.slow
def test_cancel_stops_every_process(services: Services, two_processes: Services, new_children) -> None:
    collection_id = make_color_collection(services, per_class=PER_CLASS)
    model = create_training(
        two_processes,
        name="cancelled",
        collection_id=collection_id,
        architecture="resnet18",
        settings={**SETTINGS, "epochs": 200},
    )

    def cancel_after_first_epoch() -> None:
        while not (get_job(services.db, model.job_id).progress or {}).get("history"):
            time.sleep(0.2)
        request_cancel(services.db, model.job_id)

    canceller = threading.Thread(target=cancel_after_first_epoch, daemon=True)
    canceller.start()
    started = time.monotonic()
    run_job(model.job_id)
    canceller.join(timeout=5)

    job = get_model(services, model.id).job
    assert job.status == "cancelled" and job.error == "cancelled by the user"
    assert len(job.progress["history"]) < 200 and time.monotonic() - started < 60
    assert not new_children()  # the ranks stopped (together, at the same step)
    folder = trained_model_dir(services, model.id)
    assert not (folder / artifacts.METRICS).exists() and not list(folder.glob("*.partial"))


class GroupNormResNet18(ArchitectureSpec):
    """resnet18 with GroupNorm for BatchNorm: no batch statistics, so 2 processes must compute what 1 does."""

    def __init__(self) -> None:
        super().__init__(get_architecture("resnet18").entry)

    def build_pretrained(self, pretrained: bool, download: bool = True) -> nn.Module:
        return torchvision.models.resnet18(norm_layer=lambda c: nn.GroupNorm(1, c))  # random weights


@pytest.mark.slow
def test_without_batch_statistics_two_processes_compute_what_one_computes(tmp_path: Path) -> None:
    data = colour_train_data(tmp_path / "images", per_class=10)  # val: 15 images
    settings = TrainSettings.model_validate(
        {**SETTINGS, "epochs": 2, "imbalance": "sampler", "num_workers": 1}
    )
    one = fine_tune(GroupNormResNet18(), settings, data, tmp_path / "one")
    two = fine_tune_distributed(GroupNormResNet18(), settings, data, tmp_path / "two", processes=2)

    assert (one.processes, two.processes) == (1, 2)
    # Equal up to the order of float sums (measured: ~1e-7 apart; the tolerance leaves room for AdamW's
    # first steps, which follow the sign of each gradient entry, even of one that rounding flips). With
    # BatchNorm, the losses of the test above differ by 10% or more.
    for a, b in zip(one.history, two.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-3)
    assert weights_apart(tmp_path / "one", tmp_path / "two") <= 1e-3
    assert two.metrics["total"] == 15 and two.metrics["confusion_matrix"] == one.metrics["confusion_matrix"]


def test_sharded_batches_make_up_the_one_process_batches() -> None:
    """2 ranks with batches of 4 step through the batches of 8 of one process, in the same order."""
    samples = list(range(21))

    def order() -> torch.utils.data.RandomSampler:
        return torch.utils.data.RandomSampler(samples, generator=torch.Generator().manual_seed(3))

    one = list(order())
    whole = [list(ShardedSampler(order(), rank, 2, whole_batches_of=4)) for rank in (0, 1)]
    assert len(whole[0]) == len(whole[1]) == 8  # 2 batches of 8; one process drops the last 5 samples too
    for batch in range(2):
        together = whole[0][batch * 4 : (batch + 1) * 4] + whole[1][batch * 4 : (batch + 1) * 4]
        assert sorted(together) == sorted(one[batch * 8 : (batch + 1) * 8])
    padded = [list(ShardedSampler(order(), rank, 2)) for rank in (0, 1)]
    assert len(padded[0]) == len(padded[1]) == 11  # 21 padded to 22 with the order's first index
    assert sorted(padded[0] + padded[1]) == sorted(samples + one[:1])


def weights_apart(one: Path, two: Path) -> float:
    """How far apart the kept weights of two runs' folders are: the norm of their difference relative to the
    first's."""
    weights = [torch.load(folder / artifacts.WEIGHTS, weights_only=True) for folder in (one, two)]
    difference = sum(float((weights[0][k] - weights[1][k]).float().norm() ** 2) for k in weights[0]) ** 0.5
    return difference / sum(float(w.float().norm() ** 2) for w in weights[0].values()) ** 0.5
