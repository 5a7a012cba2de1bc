"""The typed API: /openapi.json documents the answer of every route, and every time in the answers of
collections, models, jobs and deployments has one timezone-aware format, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.db import Deployment
from cvat_bridge.jobs.store import claim_job, finish_job
from cvat_bridge.services import Services
from cvat_bridge.training import create_training
from tests.conftest import API_TOKEN, _close, make_settings
from tests.helpers.models import TINY_SETTINGS, make_color_collection

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
LOOKS_LIKE_A_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def test_openapi_has_an_answer_schema_for_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    undocumented = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            responses = operation["responses"]
            answers = {status: answer for status, answer in responses.items() if status.startswith("2")}
            if not answers:
                undocumented.append(f"{route}: no 2xx answer")
            if responses.get("4XX", {}).get("content", {}).get("application/json") is None:
                undocumented.append(f"{route}: its errors are not documented")
            for status, answer in answers.items():
                content = answer.get("content")
                if status == "204":
                    if content:
                        undocumented.append(f"{route}: 204 with a body")
                    continue
                if not content:
                    undocumented.append(f"{route}: {status} without content")
                    continue
                for media_type, body in content.items():
                    if not _named_or_binary(body.get("schema", {})):
                        undocumented.append(f"{route}: {status} {media_type} {body.get('schema')}")
    assert undocumented == []
    assert len(spec["paths"]) >= 15  # the whole API, not a part of it


def _named_or_binary(schema: dict[str, Any]) -> bool:
    """A schema that names its shape: a model, a list of models, or a file."""
    if schema.get("type") == "array":
        return "$ref" in schema.get("items", {})
    return "$ref" in schema or schema.get("format") == "binary"


@pytest.fixture
def api(database_url: str | None, tmp_path: Path) -> Iterator[tuple[TestClient, Services, int]]:
    """The app on SQLite or PostgreSQL with a collection, a finished training of a model, and its deployment
    record (rows only: nothing trains)."""
    services = Services(make_settings(tmp_path / "data", database_url=database_url))
    collection_id = make_color_collection(services, per_class=4)
    model = create_training(
        services, name="times", collection_id=collection_id, architecture="resnet18", settings=TINY_SETTINGS
    )
    claimed = claim_job(services.db, model.job_id)
    assert claimed is not None
    finish_job(services.db, model.job_id, "failed", error="stopped for the test", token=claimed.claim_token)
    with services.db.session() as session:
        session.add(Deployment(model_id=model.id, function_name="fn", state="removed"))
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        yield client, services, model.id
    _close(services)


def test_every_time_in_the_answers_has_one_format(api: tuple[TestClient, Services, int]) -> None:
    client, _, model_id = api
    model = client.get(f"/api/models/{model_id}").json()
    answers = {
        "collections": client.get("/api/collections").json(),
        "collection": client.get(f"/api/collections/{model['collection_id']}").json(),
        "models": client.get("/api/models").json(),
        "model": model,
        "job": client.get(f"/api/jobs/{model['job_id']}").json(),
        "deployment": client.get(f"/api/models/{model_id}/deployment").json(),
    }
    times = dict(_times(answers))
    assert {path for path in times if path.endswith("_at")} >= {
        "collections.0.created_at",
        "collection.created_at",
        "models.0.created_at",
        "models.0.started_at",
        "models.0.finished_at",
        "model.created_at",
        "model.started_at",
        "model.finished_at",
        "job.created_at",
        "job.started_at",
        "job.finished_at",
        "deployment.updated_at",
    }
    assert {path: text for path, text in times.items() if not TIMESTAMP.match(text)} == {}


def _times(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string in a JSON value that holds a date and time."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _times(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _times(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str) and LOOKS_LIKE_A_TIME.search(value):
        yield path, value
