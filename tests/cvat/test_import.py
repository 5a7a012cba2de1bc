"""CVAT task/project -> collection, with the real cvat-sdk against the CVAT stand-in."""

from __future__ import annotations

import pytest
from cvat_sdk import models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction

from cvat_bridge.cvat.client import CvatUnavailable, connect
from cvat_bridge.cvat.importer import import_from_cvat
from cvat_bridge.db import Image
from cvat_bridge.ingest.store import ImportRefused, collection_to_dict, list_collections
from tests.cvat.conftest import frames
from tests.helpers.jobs import wait_for_api_job
from tests.standins.cvat import CvatStandin


def _import(services, **kwargs):
    with connect(services.settings) as client:
        return import_from_cvat(services, client, **kwargs)


def _images(services, collection_id: int) -> list[Image]:
    with services.db.session() as session:
        return list(session.query(Image).filter_by(collection_id=collection_id).order_by(Image.id))


def test_task_with_subset_keeps_frames_with_exactly_one_tag(services, cvat: CvatStandin) -> None:
    labels = ["red", "green", "red", "green", "red", "green", "blue"]
    task = cvat.add_task(
        "train-task",
        frames(labels),
        labels=["red", "green", {"name": "blue", "type": "rectangle"}],
        subset="TRAIN",
        tags={0: ["red"], 1: ["green"], 2: ["red", "green"], 4: ["red"], 5: ["green"], 6: ["blue"]},
        deleted_frames=[5],
    )
    collection = _import(services, name="colours", task_id=task)

    data = collection_to_dict(collection)
    assert data["source"] == "cvat" and data["version"] == 1
    assert data["classes"] == ["green", "red"]  # "blue" is a rectangle label: not a tag class
    assert data["splits"]["train"] == {"green": 1, "red": 2}
    assert data["splits"]["val"] == {"green": 0, "red": 0}
    # frame 2 has two tags, 3 none, 6 only a non-tag label; frame 5 is deleted
    assert data["report"]["excluded"] == {"untagged": 2, "several_tags": 1, "deleted": 1, "unreadable": 0}
    assert data["report"]["imported"] == 3
    rows = _images(services, collection.id)
    assert [(r.provenance["frame"], r.label, r.split) for r in rows] == [
        (0, "red", "train"),
        (1, "green", "train"),
        (4, "red", "train"),
    ]
    assert rows[0].provenance == {
        "server": cvat.url,
        "task_id": task,
        "frame": 0,
        "frame_name": "frame_000.jpg",
    }
    stored = services.storage.collection_dir(collection.id) / rows[0].path
    assert stored.read_bytes() == cvat.tasks[task].frames[0].data  # the original bytes, not re-encoded


def test_task_without_subset_is_split_stratified(services, cvat: CvatStandin) -> None:
    labels = ["red"] * 10 + ["green"] * 10
    task = cvat.add_task(
        "plain", frames(labels), labels=["red", "green"], tags={i: [label] for i, label in enumerate(labels)}
    )
    collection = _import(services, name="plain", task_id=task)
    assert collection.splits == {"train": {"green": 7, "red": 7}, "val": {"green": 3, "red": 3}}


def test_project_of_several_tasks_with_subsets(services, cvat: CvatStandin) -> None:
    project = cvat.add_project("colours", ["red", "green", "blue"])
    cvat.add_task(
        "t-train",
        frames(["red", "green", "blue"] * 2, seed=1),
        project_id=project,
        subset="Train",
        tags={i: [label] for i, label in enumerate(["red", "green", "blue"] * 2)},
    )
    cvat.add_task(
        "t-val",
        frames(["red", "green", "blue"], seed=2),
        project_id=project,
        subset="validation",
        tags={0: ["red"], 1: ["green"], 2: ["blue"]},
    )
    cvat.add_task(
        "t-test",
        frames(["red", "green"], seed=3),
        project_id=project,
        subset="Test",
        tags={0: ["red"], 1: ["green", "blue"]},
    )
    cvat.add_task("elsewhere", frames(["red"], seed=4), labels=["red"], tags={0: ["red"]})  # not in it

    collection = _import(services, name="project", project_id=project)
    assert collection.num_images == 10
    assert collection.splits == {
        "train": {"blue": 2, "green": 2, "red": 2},
        "val": {"blue": 1, "green": 1, "red": 1},
        "test": {"blue": 0, "green": 0, "red": 1},
    }
    assert collection.report["excluded"]["several_tags"] == 1
    assert [t["name"] for t in collection.report["tasks"]] == ["t-train", "t-val", "t-test"]
    assert len({r.provenance["task_id"] for r in _images(services, collection.id)}) == 3


def test_reimport_sees_new_tags_and_makes_a_new_version(services, cvat: CvatStandin) -> None:
    labels = ["red", "green"] * 3
    task = cvat.add_task("again", frames(labels), labels=["red", "green"], tags={0: ["red"], 1: ["green"]})
    first = _import(services, name="again", task_id=task)
    with connect(services.settings) as client:  # a user tags more frames in CVAT meanwhile
        ids = {label.name: label.id for label in client.tasks.retrieve(task).get_labels()}
        new = [models.LabeledImageRequest(frame=f, label_id=ids[labels[f]]) for f in (2, 3, 4, 5)]
        client.tasks.retrieve(task).update_annotations(
            models.PatchedLabeledDataRequest(tags=new), action=AnnotationUpdateAction.CREATE
        )
    second = _import(services, name="again", task_id=task)
    assert (first.version, first.num_images) == (1, 2)
    assert (second.version, second.num_images) == (2, 6)


def test_video_task_and_missing_task_are_refused_without_leftovers(services, cvat: CvatStandin) -> None:
    video = cvat.add_task(
        "clip",
        frames(["red", "green"]),
        labels=["red", "green"],
        media_type="video",
        tags={0: ["red"], 1: ["green"]},
    )
    with pytest.raises(ImportRefused, match="video task"):
        _import(services, name="clip", task_id=video)
    with pytest.raises(Exception, match="not found"):
        _import(services, name="nothing", task_id=999)
    assert list(services.storage.staging_dir.iterdir()) == []
    assert list(services.storage.collections_dir.iterdir()) == []


def test_import_through_the_api_job(client, cvat: CvatStandin) -> None:
    labels = ["red", "green"] * 4
    task = cvat.add_task(
        "api", frames(labels), labels=["red", "green"], tags={i: [label] for i, label in enumerate(labels)}
    )
    answer = client.post("/api/collections/cvat", json={"name": "from-api", "task_id": task})
    assert answer.status_code == 202, answer.text
    job = wait_for_api_job(client, answer.json())
    assert job["status"] == "succeeded", job
    assert job["result"]["collection"]["num_images"] == 8
    assert job["progress"]["frames_total"] == 8

    assert client.post("/api/collections/cvat", json={"name": "x"}).status_code == 422
    missing = client.post("/api/collections/cvat", json={"name": "x", "task_id": 999})
    assert missing.status_code == 404 and "999" in missing.json()["detail"]


def test_cvat_failing_during_the_download_leaves_nothing(services, cvat: CvatStandin) -> None:
    labels = ["red", "green"] * 3
    task = cvat.add_task(
        "flaky", frames(labels), labels=["red", "green"], tags={i: [label] for i, label in enumerate(labels)}
    )
    cvat.outage, cvat.outage_path = 100, f"/api/tasks/{task}/data/"  # chunks keep failing (503)
    with pytest.raises(CvatUnavailable, match="download chunk 0 of task"):
        _import(services, name="flaky", task_id=task)
    assert cvat.requests.count(("GET", f"/api/tasks/{task}/data/")) == 4  # cvat-sdk retried 3 times
    assert list(services.storage.staging_dir.iterdir()) == []
    assert list(services.storage.collections_dir.iterdir()) == []
    assert list_collections(services) == []


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_frames_with_0_1_2_3_tags_in_both_modes(services, cvat: CvatStandin, mode: str) -> None:
    tag_plan = {
        1: ["red"],
        2: ["red", "green"],
        3: ["red", "green", "blue"],
        5: ["blue"],
        6: ["green", "blue"],
    }
    task = cvat.add_task(
        "tags-0-1-2-3",
        frames(["red", "red", "red", "red", "green", "blue", "green"]),
        labels=["red", "green", "blue"],
        subset="Train",
        tags=tag_plan,  # frames 0 and 4: no tag
    )
    collection = _import(services, name=f"tags-{mode}", task_id=task, mode=mode)
    assert collection.mode == mode
    rows = _images(services, collection.id)
    if mode == "single":
        assert [(r.provenance["frame"], r.label, r.labels) for r in rows] == [
            (1, "red", None),
            (5, "blue", None),
        ]
        assert collection.report["excluded"] == {
            "untagged": 2,
            "several_tags": 3,
            "deleted": 0,
            "unreadable": 0,
        }
        assert collection.splits["train"] == {"blue": 1, "red": 1}
    else:
        assert [(r.provenance["frame"], r.labels) for r in rows] == [
            (1, ["red"]),
            (2, ["green", "red"]),
            (3, ["blue", "green", "red"]),
            (5, ["blue"]),
            (6, ["blue", "green"]),
        ]
        assert collection.report["excluded"] == {
            "untagged": 2,
            "several_tags": 0,
            "deleted": 0,
            "unreadable": 0,
        }
        assert collection.splits["train"] == {"blue": 3, "green": 3, "red": 3}
        assert collection.report["multilabel"]["cardinality"] == 1.8
        assert collection.report["multilabel"]["labels_not_in_val"] == ["blue", "green", "red"]
