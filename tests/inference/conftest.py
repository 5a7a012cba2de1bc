"""One tiny model trained through the real job path, shared by the inference tests, and helpers around it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from cvat_bridge.db import Model
from cvat_bridge.jobs.store import claim_job, create_job, finish_job
from cvat_bridge.runtime.imaging import Preprocessing, open_image, preprocess
from cvat_bridge.services import Services, set_services
from tests.conftest import _close, make_settings
from tests.helpers.images import PALETTE, class_image, image_bytes
from tests.helpers.models import train_tiny_model
from trainer.artifacts import load_torch_model


@dataclass
class Trained:
    services: Services
    model_id: int

    @property
    def model_dir(self) -> Path:
        return self.services.storage.model_dir(self.model_id)

    @property
    def classes(self) -> list[str]:
        with self.services.db.session() as session:
            return list(session.get(Model, self.model_id).classes)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """A tiny model trained once for the whole inference suite (SQLite, its own data dir)."""
    svc = Services(make_settings(tmp_path_factory.mktemp("inference") / "data"))
    set_services(svc)
    model_id = train_tiny_model(svc)
    yield Trained(svc, model_id)
    _close(svc)


@pytest.fixture
def services(trained: Trained) -> Services:
    """The suite's `services`, `client`, `live_server` and `page` fixtures all see the trained model."""
    set_services(trained.services)
    return trained.services


def sample_images(classes: list[str], per_class: int = 2, seed: int = 900) -> list[tuple[str, bytes]]:
    """(file name, JPEG bytes) of fresh generated images, cycling through the classes."""
    return [
        (f"{label}_{index}.jpg", image_bytes(class_image(label, seed + index, size=(70, 52))))
        for index in range(per_class)
        for label in classes
        if label in PALETTE
    ]


def torch_probabilities(model_dir: Path, files: list[tuple[str, bytes]]) -> np.ndarray:
    """What the trained torch model says: weights.pt in eager torch on training's evaluation input."""
    module, info = load_torch_model(model_dir)
    spec = Preprocessing.from_dict(info["preprocessing"])
    images = [open_image(data, min_short_side=spec.resize_size) for _, data in files]
    batch = torch.from_numpy(np.stack([preprocess(image, spec) for image in images]))
    with torch.inference_mode():
        return torch.softmax(module(batch), dim=1).numpy()


def set_job_status(services: Services, status: str) -> str:
    """A training job in the given state (running: claimed by this live process)."""
    job_id = create_job(services.db, "train", {})
    claim_job(services.db, job_id)
    if status != "running":
        finish_job(services.db, job_id, status, error=None if status == "succeeded" else "it broke")
    return job_id


def add_model(services: Services, status: str, copy_from: int | None = None) -> int:
    """A model row whose training is in `status`; with copy_from, a copy of that model's artifacts."""
    job_id = set_job_status(services, status)
    with services.db.session() as session:
        model = Model(name=f"copy-{job_id[:8]}", architecture="resnet18", classes=[], job_id=job_id)
        if copy_from is not None:
            source = session.get(Model, copy_from)
            model.architecture, model.classes = source.architecture, list(source.classes)
        session.add(model)
        session.flush()
        model_id = model.id
    if copy_from is not None:
        shutil.copytree(services.storage.model_dir(copy_from), services.storage.model_dir(model_id))
    return model_id
