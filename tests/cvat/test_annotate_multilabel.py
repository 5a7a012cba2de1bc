"""A multi-label model into CVAT: the bridge's driver writes several tags per frame, the Nuclio handler and
the cvat-cli function module answer several tags for one frame (each path exactly the labels the model
decides), the function says its mode."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import nuclio_sdk
import pytest
from PIL import Image

from cvat_bridge.cvat import cli_function
from cvat_bridge.cvat.annotate import annotate_task
from cvat_bridge.cvat.client import connect
from cvat_bridge.functions.render import function_config, load_source, render_function
from cvat_bridge.runtime.classifier import labels_above
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from tests.conftest import services_on
from tests.cvat.conftest import data_dir_with_model
from tests.helpers.images import image_bytes
from tests.helpers.multilabel import blocks_image, train_tiny_multilabel_model
from tests.standins.cvat import CvatStandin
from tests.standins.nuclio import load_handler

pytestmark = pytest.mark.slow
PLAN = [("red",), ("green", "blue"), ("red", "green", "blue"), ("blue",), ("red", "green"), ("red", "blue")]


@pytest.fixture(scope="module")
def multilabel_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    return data_dir_with_model(tmp_path_factory.mktemp("ml-cvat") / "data", train_tiny_multilabel_model)


@pytest.fixture
def ml_services(multilabel_dir: tuple[Path, int], cvat_env: CvatStandin) -> Iterator[Services]:
    yield from services_on(multilabel_dir[0])


def _frames() -> list[tuple[str, bytes]]:
    return [
        (f"frame_{i:03d}.png", image_bytes(blocks_image(labels, 5000 + i), "PNG"))
        for i, labels in enumerate(PLAN)
    ]


def _model_answers(data_dir: Path, model_id: int) -> dict[int, set[str]]:
    """Each frame's labels as the model decides them (every label reaching its threshold), read here with
    ONNX Runtime directly; frames with none left out. How good they are: tests/multilabel/test_training."""
    classifier = OnnxClassifier(data_dir / "models" / str(model_id))
    scores = classifier.predict_images([open_image(data) for _, data in _frames()])
    answers = {
        frame: {classifier.classes[i] for i in labels_above(row, classifier.label_thresholds)}
        for frame, row in enumerate(scores)
    }
    return {frame: labels for frame, labels in answers.items() if labels}


def test_bridge_driver_writes_several_tags_per_frame(
    ml_services: Services, cvat: CvatStandin, multilabel_dir: tuple[Path, int]
) -> None:
    task = cvat.add_task("multi", _frames(), labels=["red", "green", "blue"])
    with connect(ml_services.settings) as client:
        result = annotate_task(ml_services, client, model_id=multilabel_dir[1], task_id=task, threshold=0.0)
    tags = cvat.tags_by_frame(task)
    answers = {frame: {label for label, _ in items} for frame, items in tags.items()}
    assert answers == _model_answers(*multilabel_dir)
    assert max(len(items) for items in tags.values()) >= 2  # several tags on one frame
    assert all(source == "auto" for items in tags.values() for _, source in items)
    assert result["frames_tagged"] == len(tags)


def test_nuclio_handler_and_cli_module_answer_several_tags(
    ml_services: Services, multilabel_dir: tuple[Path, int], tmp_path: Path
) -> None:
    data_dir, model_id = multilabel_dir
    source = load_source(ml_services, model_id)
    assert "multi-label" in function_config(source)["spec"]["description"]
    handler = load_handler(render_function(source, tmp_path / "fn"), unique="multilabel_function")
    nuclio, cli = {}, {}
    function = cli_function.create(str(data_dir / "models" / str(model_id)))
    classes = function.classifier.classes
    for frame, (_, data) in enumerate(_frames()):
        body = {"image": base64.b64encode(data).decode()}
        answer = json.loads(handler(nuclio_sdk.Event(body=body, content_type="application/json")).body)
        assert all(item["type"] == "tag" for item in answer)
        nuclio[frame] = {item["label"] for item in answer}
        detected = function.detect(_Context(), Image.open(io.BytesIO(data)))
        cli[frame] = {classes[tag.label_id] for tag in detected}
    assert {frame: labels for frame, labels in nuclio.items() if labels} == _model_answers(data_dir, model_id)
    assert max(len(labels) for labels in nuclio.values()) >= 2  # several tags for one frame
    assert cli == nuclio


class _Context:
    """What cvat-sdk's driver hands a detection function (no threshold chosen)."""

    conf_threshold = None
    conv_mask_to_poly = False
