"""Finding a model: by id or name, and whether it is ready to use (trained, its exported files there).

``get_ready_model`` is the one check that predicting, tagging a CVAT task and making a Nuclio function make
first; it runs on every prediction, so it is one prebuilt query on a plain connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, select

from cvat_bridge.db import Job, Model
from cvat_bridge.errors import Conflict, NotFound
from cvat_bridge.limits import MAX_ID
from cvat_bridge.runtime.classifier import MODEL_INFO_FILE
from cvat_bridge.runtime.onnx_classifier import ONNX_FILE
from cvat_bridge.services import Services

READY_FILES = (MODEL_INFO_FILE, ONNX_FILE)  # what every use of a trained model reads


class ModelNotFound(NotFound):
    """No model has this id or name (never created, or deleted)."""


class ModelNotReady(Conflict):
    """The model exists but cannot be used yet: its training has not succeeded (or left no exported model)."""


@dataclass(frozen=True, slots=True)
class ReadyModel:
    """A trained model version: its row's identity and its folder of artifacts."""

    id: int
    name: str
    version: int
    job_id: str
    model_dir: Path


# Built once (see the module docstring): building a statement and an ORM session cost ~1 ms on a small VM,
# this plain query ~0.1 ms.
_MODEL_STATUS = (
    select(Model.name, Model.version, Model.job_id, Job.status)
    .join(Job, Model.job_id == Job.id)
    .where(Model.id == bindparam("model_id"))
)


def get_model(services: Services, model_id: int) -> Model:
    """The model's row (its training job loaded with it); ModelNotFound."""
    return services.db.get(Model, model_id, ModelNotFound(f"no model with id {model_id}"))


def resolve_model(services: Services, ref: str | int) -> int:
    """A model id from an id (all digits) or a name (its latest version); ModelNotFound: unknown name."""
    text = str(ref).strip()
    if text.isdigit():
        if not 0 < int(text) <= MAX_ID:  # no row has it (and PostgreSQL cannot compare it to an id)
            raise ModelNotFound(f"no model with id {text}")
        return int(text)
    with services.db.session() as session:
        model_id = session.scalars(
            select(Model.id).where(Model.name == text).order_by(Model.version.desc()).limit(1)
        ).first()
    if model_id is None:
        raise ModelNotFound(f"no model named {text!r}")
    return model_id


def get_ready_model(services: Services, model_id: int) -> ReadyModel:
    """The model if its training succeeded and its exported files are there; ModelNotFound, ModelNotReady
    (with a message saying why)."""
    with services.db.connection() as connection:
        row = connection.execute(_MODEL_STATUS, {"model_id": model_id}).first()
    if row is None:
        raise ModelNotFound(f"no model with id {model_id}")
    model = f"model {model_id} ({row.name} v{row.version})"
    if row.status == "failed":
        raise ModelNotReady(f"{model} failed to train; it cannot be used")
    if row.status != "succeeded":
        raise ModelNotReady(f"{model} is not trained yet: its training is {row.status}")
    model_dir = services.storage.model_dir(model_id)
    missing = [name for name in READY_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelNotReady(f"{model} has no {' nor '.join(missing)} in {model_dir}: train it again")
    return ReadyModel(model_id, row.name, row.version, row.job_id, model_dir)
