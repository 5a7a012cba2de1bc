"""get_predictor: cached and bounded, never stale after a retrain, a replacement or a deletion."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import delete

from cvat_bridge.db import Model
from cvat_bridge.model_lookup import ModelNotFound, ModelNotReady
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import cuda_available
from cvat_bridge.services import Services
from cvat_bridge.serving import get_predictor
from cvat_bridge.serving.cache import cache
from tests.conftest import make_settings
from tests.inference.conftest import Trained, add_model, sample_images


def test_repeated_calls_reuse_the_loaded_model(trained: Trained) -> None:
    first = get_predictor(trained.services, trained.model_id)
    assert get_predictor(trained.services, trained.model_id) is first
    assert first.backend == ("onnxruntime:cuda" if cuda_available() else "onnxruntime")


def test_rewritten_model_files_are_loaded_afresh(trained: Trained) -> None:
    svc = trained.services
    model_id = add_model(svc, "succeeded", copy_from=trained.model_id)
    image = open_image(sample_images(trained.classes, per_class=1)[0][1])
    before = get_predictor(svc, model_id)
    (old,) = before.predict([image], top_k=len(trained.classes))

    model_json = svc.storage.model_dir(model_id) / "model.json"
    info = json.loads(model_json.read_text())
    info["classes"] = [f"renamed-{label}" for label in info["classes"]]
    partial = model_json.with_name("model.json.partial")  # as the trainer writes: a new file, renamed
    partial.write_text(json.dumps(info))
    os.replace(partial, model_json)

    after = get_predictor(svc, model_id)
    (new,) = after.predict([image], top_k=len(trained.classes))
    assert after is not before
    assert new.label == f"renamed-{old.label}"


def test_deleted_model_is_not_served(trained: Trained) -> None:
    svc = trained.services
    model_id = add_model(svc, "succeeded", copy_from=trained.model_id)
    get_predictor(svc, model_id)
    with svc.db.session() as session:
        session.execute(delete(Model).where(Model.id == model_id))
    with pytest.raises(ModelNotFound, match=f"no model with id {model_id}"):
        get_predictor(svc, model_id)


@pytest.mark.parametrize("status", ["running", "failed", "cancelled"])
def test_untrained_model_is_refused(trained: Trained, status: str) -> None:
    model_id = add_model(trained.services, status)
    with pytest.raises(ModelNotReady, match=f"model {model_id}"):
        get_predictor(trained.services, model_id)


def test_cache_keeps_at_most_the_configured_number(trained: Trained) -> None:
    svc = Services(make_settings(trained.services.settings.data_dir, predictor_cache_size=2))
    ids = [add_model(svc, "succeeded", copy_from=trained.model_id) for _ in range(3)]
    first = get_predictor(svc, ids[0])
    for model_id in ids[1:]:
        get_predictor(svc, model_id)
    assert len(cache) == 2
    assert get_predictor(svc, ids[0]) is not first  # the least recently used one was dropped
    svc.db.dispose()
