"""Tagging a CVAT task with a trained model: the bridge's batched job, the cvat-cli function module, and the
same tags from every path into CVAT."""

from __future__ import annotations

import base64
import json

import cvat_sdk.auto_annotation as cvataa
import nuclio_sdk
import numpy as np
import pytest
from cvat_cli.__main__ import main as cvat_cli
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.cvat import cli_function
from cvat_bridge.cvat.annotate import AnnotateRefused, annotate_task
from cvat_bridge.cvat.client import connect
from cvat_bridge.functions.render import load_source, render_function
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from tests.conftest import API_TOKEN
from tests.cvat.conftest import frames
from tests.helpers.jobs import wait_for_api_job
from tests.standins.cvat import CvatStandin
from tests.standins.nuclio import load_handler

pytestmark = pytest.mark.slow  # trains a tiny model once per session (about a minute on 2 busy cores)
COLOURS = ["red", "green", "blue"] * 4  # frame i shows COLOURS[i]


def _task(cvat: CvatStandin, labels: list[str], **kwargs) -> int:
    return cvat.add_task("to-tag", frames(COLOURS, seed=7), labels=labels, **kwargs)


def _annotate(services: Services, **kwargs) -> dict:
    with connect(services.settings) as client:
        return annotate_task(services, client, **kwargs)


def _assert_mostly_right(tags: dict[int, list[tuple[str, str]]], frames_: list[int]) -> None:
    right = sum(tags[f] == [(COLOURS[f], "auto")] for f in frames_)
    assert right >= 0.8 * len(frames_), tags


def test_tags_frames_without_tags_and_reports_unmatched(
    model_services: Services, cvat: CvatStandin, trained_data_dir
) -> None:
    model_id = trained_data_dir[1]
    task = _task(cvat, ["red", "green", "purple"], tags={0: ["green"]}, deleted_frames=[3])
    result = _annotate(model_services, model_id=model_id, task_id=task, threshold=0.0)

    tags = cvat.tags_by_frame(task)
    assert tags[0] == [("green", "manual")]  # already tagged: left alone
    assert 3 not in tags  # deleted
    red_green = [f for f in range(1, 12) if f != 3 and COLOURS[f] != "blue"]
    _assert_mostly_right(tags, red_green)
    assert all(source == "auto" for f, items in tags.items() if f for _, source in items)
    assert result["unmatched_labels"] == ["blue"]
    assert result["frames_skipped_already_tagged"] == 1 and result["frames_deleted"] == 1
    assert result["frames_tagged"] + result["frames_unmatched"] == 10
    assert result["frames_tagged"] == sum(len(items) for f, items in tags.items() if f)
    writes = [(w["method"], w["action"]) for w in cvat.writes]
    assert writes == [("PATCH", "create")]  # one bulk write, nothing deleted
    assert ("GET", f"/api/tasks/{task}/data/") in cvat.requests  # chunks, not one frame per request


def test_overwrite_replaces_the_tags_of_retagged_frames(
    model_services: Services, cvat: CvatStandin, trained_data_dir
) -> None:
    task = _task(cvat, ["red", "green", "blue"], tags={0: ["green", "blue"], 1: ["red"]})
    result = _annotate(
        model_services, model_id=trained_data_dir[1], task_id=task, threshold=0.0, overwrite=True
    )
    tags = cvat.tags_by_frame(task)
    _assert_mostly_right(tags, list(range(12)))
    assert all(source == "auto" for items in tags.values() for _, source in items)
    assert result["tags_replaced"] == 3 and result["frames_tagged"] == 12
    assert [(w["method"], w["action"]) for w in cvat.writes] == [("PATCH", "create"), ("PATCH", "delete")]


def test_no_matching_label_is_refused_and_writes_nothing(
    model_services: Services, cvat: CvatStandin, trained_data_dir
) -> None:
    task = _task(cvat, ["cat", "dog"])
    with pytest.raises(AnnotateRefused, match="none of the model's classes"):
        _annotate(model_services, model_id=trained_data_dir[1], task_id=task)
    assert cvat.writes == []


def test_annotate_through_the_api(model_services: Services, cvat: CvatStandin, trained_data_dir) -> None:
    model_id = trained_data_dir[1]
    task = _task(cvat, ["red", "green", "blue"])
    with TestClient(create_app(model_services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        answer = client.post(f"/api/models/{model_id}/annotate", json={"task_id": task, "threshold": 0.2})
        assert answer.status_code == 202, answer.text
        job = wait_for_api_job(client, answer.json())
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["frames_tagged"] + result["frames_below_threshold"] == 12
        assert result["frames_tagged"] == sum(len(items) for items in cvat.tags_by_frame(task).values())
        assert job["progress"]["frames_done"] == 12

        assert client.post("/api/models/999/annotate", json={"task_id": task}).status_code == 404
        missing = client.post(f"/api/models/{model_id}/annotate", json={"task_id": 999})
        assert missing.status_code == 404 and "task 999" in missing.json()["detail"]


def test_cvat_cli_function_module(
    model_services: Services, cvat: CvatStandin, trained_data_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, model_id = trained_data_dir
    task = _task(cvat, ["red", "green", "blue"], tags={5: ["red"]})
    monkeypatch.setenv("PASS", cvat.password)
    monkeypatch.setenv("CVAT_BRIDGE_DATA_DIR", str(data_dir))
    argv = [
        "--server-host",
        cvat.url,
        "--auth",
        cvat.username,
        "task",
        "auto-annotate",
        str(task),
        "--function-module",
        "cvat_bridge.cvat.cli_function",
        "-p",
        f"model=str:{model_id}",
    ]
    assert cvat_cli(argv) == 0
    tags = cvat.tags_by_frame(task)
    _assert_mostly_right(tags, [f for f in range(12) if f != 5])
    assert ("red", "manual") in tags[5]  # cvat-cli adds; --clear-existing would replace

    classifier = OnnxClassifier(data_dir / "models" / str(model_id))
    confidence = classifier.predict_images([open_image(data) for _, data in frames(COLOURS, seed=7)]).max(1)
    threshold = float(np.median(confidence))
    assert cvat_cli([*argv, "--conf-threshold", str(threshold), "--clear-existing"]) == 0
    assert sorted(cvat.tags_by_frame(task)) == [f for f in range(12) if confidence[f] >= threshold]

    bad = [*argv[:-1], "model=str:/no/such/model"]
    with pytest.raises(ValueError, match="no trained model there"):
        cvat_cli(bad)


def test_the_three_paths_into_cvat_give_the_same_tags(
    model_services: Services, cvat: CvatStandin, trained_data_dir, tmp_path
) -> None:
    """The bridge's driver, cvat-sdk's driver running cli_function, and the Nuclio function answer each
    frame with the same tag (or none), at a threshold that leaves some frames untagged: one tag builder."""
    data_dir, model_id = trained_data_dir
    images = frames(COLOURS, seed=11)
    probabilities = OnnxClassifier(data_dir / "models" / str(model_id)).predict_images(
        [open_image(data) for _, data in images]
    )
    confidences = np.unique(probabilities.max(1))  # sorted, distinct
    middle = len(confidences) // 2
    threshold = float(confidences[middle - 1] + confidences[middle]) / 2  # no frame sits on it
    bridge_task, sdk_task = (cvat.add_task(name, images, labels=COLOURS[:3]) for name in ("bridge", "sdk"))

    _annotate(model_services, model_id=model_id, task_id=bridge_task, threshold=threshold)
    with connect(model_services.settings) as client:
        function = cli_function.create(str(data_dir / "models" / str(model_id)))
        cvataa.annotate_task(client, sdk_task, function, conf_threshold=threshold)
    folder = render_function(load_source(model_services, model_id), tmp_path / "function")
    handler = load_handler(folder, unique="three_paths_function")
    nuclio = {}
    for frame, (_, data) in enumerate(images):
        body = {"image": base64.b64encode(data).decode(), "threshold": threshold}
        answer = json.loads(handler(nuclio_sdk.Event(body=body, content_type="application/json")).body)
        if answer:
            nuclio[frame] = [(item["label"], "auto") for item in answer]

    bridge = cvat.tags_by_frame(bridge_task)
    assert 0 < len(bridge) < len(images)  # the threshold leaves some frames untagged
    assert cvat.tags_by_frame(sdk_task) == bridge
    assert nuclio == bridge
