"""The CVAT stand-in answers like the real CVAT: every recorded exchange (``tests/data/cvat-recordings``) of
an endpoint the stand-in serves is replayed against it, and status, content type and JSON shape (keys and
value types, recursively) must match what CVAT 2.73 answered."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import data_path
from tests.helpers.images import class_image, image_bytes
from tests.standins import ThreadedServer
from tests.standins.cvat import CvatStandin

RECORDINGS = data_path("cvat-recordings/flows")
SERVED = {
    ("GET", "/api/server/about"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/users/self"),
    ("GET", "/api/projects"),
    ("GET", "/api/projects/{id}"),
    ("GET", "/api/tasks"),
    ("GET", "/api/tasks/{id}"),
    ("GET", "/api/labels"),
    ("GET", "/api/jobs"),
    ("GET", "/api/tasks/{id}/data/meta"),
    ("GET", "/api/tasks/{id}/data/"),
    ("GET", "/api/tasks/{id}/annotations/"),
    ("PUT", "/api/tasks/{id}/annotations/"),
    ("PATCH", "/api/tasks/{id}/annotations/"),
    ("DELETE", "/api/tasks/{id}/annotations/"),
    ("GET", "/api/lambda/functions"),
}
# The recorded label ids of cat, dog and bird: project 8 (flows 01-10) and project 7 (flows 11-13).
REC_LABELS = ((22, 23, 24), (91, 92, 93))


def _exchanges() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(RECORDINGS.glob("*.json")):
        for exchange in json.loads(path.read_text()):
            request = exchange.get("request", {})
            if "response" in exchange and (request["method"], request["path_template"]) in SERVED:
                found.append((f"{path.stem}#{exchange['seq']}", exchange))
    assert found, f"no recorded exchange of a served endpoint in {RECORDINGS}"
    return found


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [item for item in value if not (isinstance(item, str) and item.endswith("total>"))]
        return [shape(items[0])] if items else []
    return None if value is None else type(value).__name__


def differences(recorded: Any, ours: Any, where: str = "") -> list[str]:
    """Where two shapes disagree; a null on either side matches any type (CVAT's nullable fields)."""
    if recorded is None or ours is None:
        return []
    if isinstance(recorded, dict) and isinstance(ours, dict):
        problems = [f"{where}.{key}: missing" for key in recorded.keys() - ours.keys()]
        problems += [f"{where}.{key}: not in CVAT's answer" for key in ours.keys() - recorded.keys()]
        for key in recorded.keys() & ours.keys():
            problems += differences(recorded[key], ours[key], f"{where}.{key}")
        return problems
    if isinstance(recorded, list) and isinstance(ours, list):
        return differences(recorded[0], ours[0], f"{where}[0]") if recorded and ours else []
    return [] if recorded == ours else [f"{where}: {ours} instead of {recorded}"]


@pytest.fixture(scope="module")
def nuclio_dashboard() -> Iterator[str]:
    """A dashboard answering what the recorded one answered (08b), for CVAT's function list."""
    recorded = json.loads((RECORDINGS / "08b_cvat_to_nuclio_dashboard.json").read_text())
    functions = next(e for e in recorded if e["request"]["path"] == "/api/functions")
    app = FastAPI()
    app.get("/api/functions")(lambda: functions["response_from_stand_in"]["body"])
    with ThreadedServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def standin(nuclio_dashboard: str) -> Iterator[tuple[CvatStandin, dict[str, str], httpx.Client]]:
    """The recorded server's state: project with tag labels cat/dog/bird, a 6-frame task in it (Train)."""
    server = CvatStandin(nuclio_url=nuclio_dashboard)
    project = server.add_project("rec-project", ["cat", "dog", "bird"])
    images = [(f"img_{i}.jpg", image_bytes(class_image("red", i))) for i in range(6)]
    task = server.add_task(
        "rec-task", images, project_id=project, subset="Train", tags={0: ["cat", "dog"], 3: ["bird"]}
    )
    for index in range(6):  # the recorded server held 7 tasks and 7 projects
        server.add_task(f"older-{index}", images[:4], labels=["cat"])
        server.add_project(f"older-{index}", ["cat"])
    labels = [label["id"] for label in server.projects[project].labels]
    ids = {
        "task": str(task),
        "project": str(project),
        **{str(rec): str(ours) for recs in REC_LABELS for rec, ours in zip(recs, labels, strict=True)},
    }
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield server, ids, http


def _request(
    server: CvatStandin, ids: dict[str, str], http: httpx.Client, exchange: dict[str, Any]
) -> httpx.Response:
    recorded = exchange["request"]
    path = re.sub(r"/api/tasks/\d+", f"/api/tasks/{ids['task']}", recorded["path"])
    path = re.sub(r"/api/projects/\d+", f"/api/projects/{ids['project']}", path)
    query = dict(recorded.get("query") or {})
    query.update({key: ids["task"] for key in ("task_id",) if key in query})
    query.update({key: ids["project"] for key in ("project_id",) if key in query})
    headers = {}
    if "Authorization" in recorded["headers"] or "Cookie" in recorded["headers"]:
        headers["Authorization"] = f"Bearer {server.access_token}"
    body = (recorded.get("body") or {}).get("json")
    if path == "/api/auth/login":
        wrong = exchange["response"]["status"] != 200
        body = {"username": server.username, "password": "wrong" if wrong else server.password}
    elif body is not None and "tags" in body:
        if query.get("action") == "delete":  # delete what is there now, as the SDK does
            current = http.get(f"/api/tasks/{ids['task']}/annotations/", headers=headers)
            body = {**body, "tags": current.json()["tags"][:1]}
        else:
            tags = [{**tag, "label_id": int(ids[str(tag["label_id"])])} for tag in body["tags"]]
            body = {**body, "tags": tags}
    http.cookies.clear()
    return http.request(recorded["method"], path, params=query, headers=headers, json=body)


@pytest.mark.parametrize("name,exchange", _exchanges(), ids=[name for name, _ in _exchanges()])
def test_standin_answers_like_cvat(standin, name: str, exchange: dict[str, Any]) -> None:
    server, ids, http = standin
    answer = _request(server, ids, http, exchange)
    recorded = exchange["response"]
    assert answer.status_code == recorded["status"], answer.text
    recorded_type = recorded["headers"].get("content-type")
    assert answer.headers.get("content-type") == recorded_type
    body = recorded.get("body") or {}
    if "json" in body:
        assert differences(shape(body["json"]), shape(answer.json())) == []
        if isinstance(body["json"], dict) and "count" in body["json"]:  # the same pages as CVAT's
            pages = [
                (page["count"], page["next"] is None, page["previous"] is None)
                for page in (body["json"], answer.json())
            ]
            assert pages[0] == pages[1]
    elif "zip_members" in body:
        members = zipfile.ZipFile(io.BytesIO(answer.content)).infolist()
        suffix = body["zip_members"][0]["name"].rsplit(".", 1)[1]
        assert [(m.filename, m.compress_type) for m in members] == [
            (f"{i:06d}.{suffix}", zipfile.ZIP_STORED) for i in range(6)
        ]
    elif "image" in body:
        assert answer.headers["content-type"] == body["content_type"]
    else:
        assert answer.content == b""
    for cookie in ("csrftoken", "sessionid") if name.startswith("01_") and exchange["seq"] == 2 else ():
        assert cookie in answer.cookies


def test_lambda_functions_are_built_like_cvat_does() -> None:
    """Only Nuclio functions of a CVAT kind are listed; a missing description breaks the list (as in CVAT);
    no dashboard: 503."""
    functions = {
        "tagger": {
            "metadata": {
                "name": "tagger",
                "annotations": {
                    "type": "detector",
                    "name": "Tagger",
                    "version": "3",
                    "spec": json.dumps([{"id": 0, "name": "wool", "type": "tag"}]),
                },
            },
            "spec": {"description": "tags wool"},
        },
        "skipped": {
            "metadata": {"name": "skipped", "annotations": {"type": "tag", "spec": "[]"}},
            "spec": {"description": "unknown kind"},
        },
    }
    app = FastAPI()
    app.get("/api/functions")(lambda: functions)
    with ThreadedServer(app) as dashboard, CvatStandin(nuclio_url=dashboard.url) as cvat:
        headers = {"Authorization": f"Bearer {cvat.access_token}"}
        listed = httpx.get(f"{cvat.url}/api/lambda/functions", headers=headers).json()
        assert listed == [
            {
                "id": "tagger",
                "kind": "detector",
                "description": "tags wool",
                "name": "Tagger",
                "version": 3,
                "labels_v2": [{"name": "wool", "type": "tag", "attributes": []}],
            }
        ]
        del functions["tagger"]["spec"]["description"]
        assert httpx.get(f"{cvat.url}/api/lambda/functions", headers=headers).status_code == 500
    with CvatStandin(nuclio_url="http://127.0.0.1:9") as cvat:
        headers = {"Authorization": f"Bearer {cvat.access_token}"}
        answer = httpx.get(f"{cvat.url}/api/lambda/functions", headers=headers)
        assert answer.status_code == 503 and "unreachable" in answer.json()["detail"]
