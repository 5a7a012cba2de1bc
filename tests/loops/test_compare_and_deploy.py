"""The retrained version is deployed only when it is not worse than the scoring one on the same validation
images: a version trained on swapped labels (wrong on every colour) against a good one, both ways, through
the compare job of the live service and the Nuclio stand-in."""

from __future__ import annotations

import hashlib
import time

import pytest

from cvat_bridge.db import Loop, LoopRound
from cvat_bridge.ingest.store import ImportedImage, register_collection
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.loops.compare import Comparison
from cvat_bridge.services import Services
from tests.helpers.images import class_image, image_bytes
from tests.helpers.models import TINY_SETTINGS, train_model
from tests.loops.conftest import CLASSES, LoopBridge

pytestmark = pytest.mark.slow

SWAPPED = {"red": "green", "green": "blue", "blue": "red"}


def swapped_model(services: Services) -> int:
    """Version 2 of "tiny", trained on colour images whose labels are all swapped (its validation images are
    labelled right: it is wrong on them)."""
    staging = services.storage.new_staging_dir("swapped-")
    images = []
    for colour in CLASSES:
        (staging / colour).mkdir()
        for index in range(20):
            data = image_bytes(class_image(colour, 500 + index, (40, 32)))
            relative = f"{colour}/{colour}_{index}.jpg"
            (staging / relative).write_bytes(data)
            label, split = (SWAPPED[colour], "train") if index < 14 else (colour, "val")
            images.append(ImportedImage(relative, label, split, hashlib.sha256(data).hexdigest(), 40, 32))
    collection = register_collection(
        services, name="swapped", source="zip", staging_dir=staging, images=images, report={}, provenance={}
    )
    settings = {**TINY_SETTINGS, "epochs": 3, "image_size": 32}
    model = train_model(
        services, collection_id=collection.id, architecture="resnet18", name="tiny", settings=settings
    )
    assert model.job.status == "succeeded", model.job.error
    return model.id


def compared(bridge: LoopBridge, old: int, new: int) -> tuple[LoopRound, Loop]:
    """A round waiting for its comparison (old scored it, new is its retraining); the compare job's result."""
    services = bridge.services
    with services.db.session() as session:
        loop = Loop(
            name="cmp",
            model_id=old,
            project_id=1,
            strategy="margin",
            budget=1,
            auto_tag_threshold=1.0,
            auto_retrain=False,
            webhook_secret="s",
        )
        session.add(loop)
        session.flush()
        row = LoopRound(loop_id=loop.id, number=1, state="comparing", model_id=old, new_model_id=new)
        session.add(row)
        session.flush()
    start_job(services, "loop_compare", {"round_id": row.id})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with services.db.session() as session:
            row = session.get(LoopRound, row.id)
            loop = session.get(Loop, row.loop_id)
        if row.state in ("done", "failed"):
            return row, loop
        time.sleep(0.2)
    raise AssertionError("the compare job did not finish")


def test_worse_is_kept_out_better_is_deployed(loop_bridge: LoopBridge) -> None:
    bridge = loop_bridge
    good, bad = bridge.model_id, swapped_model(bridge.services)

    row, loop = compared(bridge, old=good, new=bad)
    assert row.state == "done" and row.new_accuracy < row.old_accuracy, row.decision
    assert row.deployed_model_id is None and "worse" in row.decision
    assert loop.model_id == good and bridge.nuclio.posted == []

    row, loop = compared(bridge, old=bad, new=good)
    assert row.new_accuracy > row.old_accuracy and row.compared_on > 0
    assert row.deployed_model_id == good and row.decision.startswith("deploying")
    assert loop.model_id == good  # the next round scores with the deployed version
    deadline = time.monotonic() + 120
    while not any(f.get("status", {}).get("state") == "ready" for f in bridge.nuclio.functions.values()):
        assert time.monotonic() < deadline, bridge.nuclio.functions
        time.sleep(0.3)
    [config] = bridge.nuclio.posted
    assert config["spec"]["build"]["path"].endswith(f"/api/models/{good}/function.zip")


def test_margin_rule() -> None:
    assert Comparison(0.80, 0.80, 10).deploy(0.0)
    assert not Comparison(0.80, 0.79, 10).deploy(0.0)
    assert Comparison(0.80, 0.75, 10).deploy(0.05)
    assert not Comparison(0.80, 0.74, 10).deploy(0.05)
