"""Ids and names at and past the databases' limits, ids never reused, download tokens that die with their
model, list summaries, form floods and collections in use: the real app on uvicorn, SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cvat_bridge.auth import function_download_token, model_download_token
from cvat_bridge.db import Model
from cvat_bridge.jobs.store import claim_job, create_job, finish_job
from cvat_bridge.limits import MAX_GROUP_PATHS, MAX_IMAGE_PIXELS, MAX_NAME_LENGTH
from cvat_bridge.runtime.imaging import DEFAULT_MAX_PIXELS
from cvat_bridge.services import Services, set_services
from tests.collections.zips import class_files, jpeg
from tests.conftest import API_TOKEN, LiveServer, _close, make_settings
from tests.helpers.models import make_color_collection, train_tiny_model

TOO_BIG_IDS = ("2147483648", "99999999999999999999", "0", "-1")


@dataclass
class Bridge:
    services: Services
    http: httpx.Client


@pytest.fixture
def bridge(tmp_path: Path, database_url: str | None) -> Iterator[Bridge]:
    """The app on uvicorn over SQLite and over PostgreSQL, and a client with the token."""
    services = Services(make_settings(tmp_path / "data", database_url=database_url))
    set_services(services)
    with (
        LiveServer(services) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=60
        ) as http,
    ):
        yield Bridge(services, http)
    _close(services)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(http: httpx.Client, files: dict[str, bytes], name: str = "data", **fields: str) -> httpx.Response:
    return http.post(
        "/api/collections", files={"file": ("data.zip", zip_bytes(files))}, data={"name": name, **fields}
    )


def add_model(services: Services, collection_id: int | None, status: str = "queued", **columns) -> int:
    """A Model row and its job in ``status``, as a training records them (no training runs)."""
    job_id = create_job(services.db, "train", {})
    if status != "queued":
        assert claim_job(services.db, job_id) is not None
    if status not in ("queued", "running"):
        finish_job(services.db, job_id, status)
    columns = {"name": f"m-{job_id[:8]}", "architecture": "resnet18", **columns}
    with services.db.session() as session:
        model = Model(collection_id=collection_id, job_id=job_id, **columns)
        session.add(model)
        session.flush()
        return model.id


def test_ids_past_the_database_are_404_or_422_never_500(bridge: Bridge) -> None:
    http = bridge.http
    for model_id in TOO_BIG_IDS:
        answers = [
            http.get(f"/api/models/{model_id}"),
            http.get(f"/api/collections/{model_id}"),
            http.delete(f"/api/collections/{model_id}"),
            http.delete(f"/api/models/{model_id}"),
            http.post(f"/api/models/{model_id}/cancel"),
            http.get(f"/api/models/{model_id}/artifacts/model.onnx"),
            http.get(f"/api/models/{model_id}/deployment"),
            http.get(f"/api/models/{model_id}/function.zip"),
            http.post(f"/api/models/{model_id}/annotate", json={"task_id": 1}),
            http.post(f"/api/models/{model_id}/predict", files={"file": ("a.jpg", jpeg("a"))}),
        ]
        for answer in answers:
            assert answer.status_code in (404, 422), (answer.request.url, answer.status_code, answer.text)
    for collection_id in (2**31, 2**70, 0):
        body = {"name": "m", "collection_id": collection_id, "architecture": "resnet18"}
        answer = http.post("/api/models", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "collection_id"]


def test_ids_are_never_reused_and_download_tokens_die_with_their_model(bridge: Bridge) -> None:
    http, services = bridge.http, bridge.services
    first = upload(http, class_files({"ants": 2, "bees": 2})).json()["id"]
    assert http.delete(f"/api/collections/{first}").status_code == 204
    second = upload(http, class_files({"ants": 2, "bees": 2})).json()["id"]
    assert second > first

    old = add_model(services, second, status="succeeded")
    old_token = model_download_token(services.db, API_TOKEN, old)
    assert http.delete(f"/api/models/{old}").status_code == 204
    new = add_model(services, second, status="succeeded")
    assert new > old
    assert http.get(f"/api/models/{old}").status_code == 404

    # A row that takes the old id (as a database created by an older version may give it) is another model:
    # the old model's download token does not open it.
    reused = add_model(services, second, status="succeeded", id=old)
    unauthenticated = httpx.Client(base_url=str(http.base_url))
    with_old = unauthenticated.get(
        f"/api/models/{reused}/function.zip", headers={"Authorization": f"Bearer {old_token}"}
    )
    assert with_old.status_code == 401
    new_token = model_download_token(services.db, API_TOKEN, reused)
    assert new_token != old_token
    with_new = unauthenticated.get(
        f"/api/models/{reused}/function.zip", headers={"Authorization": f"Bearer {new_token}"}
    )
    assert with_new.status_code == 409  # past the token check: the row has no trained files


def test_download_tokens_differ_by_creation_time() -> None:
    import datetime as dt

    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    naive = moment.replace(tzinfo=None)  # SQLite gives the stored UTC time without its zone
    assert function_download_token("t", 4, moment) == function_download_token("t", 4, naive)
    assert function_download_token("t", 4, moment) != function_download_token(
        "t", 4, moment + dt.timedelta(microseconds=1)
    )


def test_names_past_the_limits_get_the_same_answer_on_both_databases(bridge: Bridge) -> None:
    http = bridge.http
    long_class = "c" * 230
    refused = upload(http, {**class_files({"ants": 2}), **class_files({long_class: 2})})
    assert refused.status_code == 422, refused.text
    assert f"longer than {MAX_NAME_LENGTH} characters" in refused.json()["detail"]

    long_file = "ants/" + "a" * 300 + ".jpg"
    accepted = upload(http, {**class_files({"ants": 2, "bees": 2}), long_file: jpeg("ants", 9)})
    assert accepted.status_code == 201, accepted.text
    report = accepted.json()["report"]
    assert report["skipped_by_kind"] == {"name_too_long": 1}
    assert report["skipped"][0]["path"] == long_file and "255 bytes" in report["skipped"][0]["reason"]
    assert accepted.json()["num_images"] == 4

    # PostgreSQL text cannot hold NUL: refused alike on both databases, as is any other unusable name
    for name in ("x\x00y", "n" * (MAX_NAME_LENGTH + 1)):
        refused = upload(http, class_files({"ants": 2, "bees": 2}), name=name)
        assert refused.status_code == 422 and "the collection name is" in refused.json()["detail"], name
    nul_model = http.post(
        "/api/models", json={"name": "a\u0000b", "collection_id": 1, "architecture": "resnet18"}
    )
    assert nul_model.status_code == 422 and "NUL" in nul_model.json()["detail"]
    for job_id in ("%00", "x" * 300, "not-a-uuid"):
        assert http.get(f"/api/jobs/{job_id}").status_code == 404, job_id

    exactly = upload(http, class_files({"a" * MAX_NAME_LENGTH: 2, "bees": 2}), name="n" * MAX_NAME_LENGTH)
    assert exactly.status_code == 201, exactly.text
    assert (
        http.post("/api/collections", files={"file": ("x.zip", b"")}, data={"name": "n" * 201}).status_code
        == 422
    )


def test_the_pixel_limit_is_written_in_limits_and_in_the_import_free_runtime_only() -> None:
    assert DEFAULT_MAX_PIXELS == MAX_IMAGE_PIXELS
    root = Path(__file__).resolve().parents[1]
    written = {
        path.relative_to(root).as_posix()
        for folder in ("cvat_bridge", "trainer", "serverless")
        for path in (root / folder).rglob("*.py")
        if f"{MAX_IMAGE_PIXELS:_}" in path.read_text() or str(MAX_IMAGE_PIXELS) in path.read_text()
    }
    assert written == {"cvat_bridge/limits.py", "cvat_bridge/runtime/imaging.py"}


def test_a_flood_of_form_fields_is_refused(bridge: Bridge) -> None:
    fields = {"name": "flood", **{f"f{index}": "x" * 100 for index in range(50)}}
    answer = bridge.http.post(
        "/api/collections", files={"file": ("a.zip", zip_bytes(class_files({"a": 2})))}, data=fields
    )
    assert answer.status_code == 413 and "form fields" in answer.json()["detail"]
    long_field = bridge.http.post(
        "/api/collections", files={"file": ("a.zip", b"")}, data={"name": "x" * 70_000}
    )
    assert long_field.status_code == 413 and "longer than" in long_field.json()["detail"]


def test_lists_are_summaries_and_duplicate_groups_list_few_paths(bridge: Bridge) -> None:
    http, services = bridge.http, bridge.services
    same = jpeg("ants", 0)
    copies = {f"ants/copy_{index}.jpg": same for index in range(MAX_GROUP_PATHS + 15)}
    created = upload(http, {**copies, **class_files({"bees": 3})})
    assert created.status_code == 201, created.text
    [group] = created.json()["report"]["duplicates"]
    assert group["count"] == MAX_GROUP_PATHS + 15 and len(group["paths"]) == MAX_GROUP_PATHS

    [listed] = http.get("/api/collections").json()
    assert listed["report"]["duplicate_groups"] == 1 and "duplicates" not in listed["report"]
    detail = http.get(f"/api/collections/{listed['id']}").json()
    assert detail["report"]["duplicates"] == created.json()["report"]["duplicates"]

    metrics = {
        "accuracy": 0.9,
        "confusion_matrix": {"labels": ["a"], "matrix": [[1]]},
        "history": [{"epoch": 1}],
    }
    model_id = add_model(services, listed["id"], status="succeeded", metrics=metrics)
    [summary] = http.get("/api/models").json()
    assert summary["metrics"] == {"accuracy": 0.9}
    assert http.get(f"/api/models/{model_id}").json()["metrics"] == metrics


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_collection_a_training_uses_cannot_be_deleted(bridge: Bridge, status: str) -> None:
    http, services = bridge.http, bridge.services
    collection_id = make_color_collection(services, per_class=3)
    busy = add_model(services, collection_id, status=status, name="busy")
    done = add_model(services, collection_id, status="succeeded", name="done")

    refused = http.delete(f"/api/collections/{collection_id}")
    assert refused.status_code == 409
    assert f"busy v1 (#{busy})" in refused.json()["detail"] and "done" not in refused.json()["detail"]
    assert http.get(f"/api/collections/{collection_id}").status_code == 200
    assert services.storage.collection_dir(collection_id).is_dir()

    http.post(f"/api/models/{busy}/cancel")
    with services.db.session() as session:
        job_id = session.get(Model, busy).job_id
    finish_job(services.db, job_id, "cancelled")
    assert http.delete(f"/api/collections/{collection_id}").status_code == 204
    assert http.get(f"/api/models/{done}").json()["collection_id"] is None


def test_a_finished_model_keeps_predicting_after_its_collection_is_deleted(
    services: Services, live_server: LiveServer
) -> None:
    model_id = train_tiny_model(services, epochs=1)
    http = httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=60
    )
    collection_id = http.get(f"/api/models/{model_id}").json()["collection_id"]

    assert http.delete(f"/api/collections/{collection_id}").status_code == 204

    answer = http.post(f"/api/models/{model_id}/predict", files={"file": ("red.jpg", jpeg("red"))})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] in ("red", "green", "blue")
