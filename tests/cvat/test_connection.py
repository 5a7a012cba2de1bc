"""Connecting to CVAT: status, listings, access tokens, and clear errors when CVAT is down or refuses us."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.cvat.client import CvatAuthError, CvatUnavailable, call, connect
from cvat_bridge.services import Services, set_services
from tests.conftest import API_TOKEN, make_settings
from tests.cvat.conftest import frames
from tests.standins import free_port
from tests.standins.cvat import CvatStandin


@contextmanager
def api(tmp_path: Path, **settings) -> Iterator[TestClient]:
    """The service's API with CVAT settings overridden (on top of the stand-in's environment)."""
    services = Services(make_settings(tmp_path / "data", **settings))
    set_services(services)
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        yield client
    services.db.dispose()
    set_services(None)


def test_status_and_listings(client: TestClient, cvat: CvatStandin) -> None:
    labels = ["owl", {"name": "box", "type": "rectangle"}, {"name": "x", "type": "any"}]
    project = cvat.add_project("birds", labels)
    cvat.add_task("in-project", frames(["red"] * 3), project_id=project, subset="Train")
    cvat.add_task("own", frames(["red"] * 2), labels=["red", "green"])

    status = client.get("/api/cvat/status").json()
    assert status["reachable"] and status["authenticated"]
    assert (status["version"], status["user"], status["url"]) == ("2.80.0", "admin", cvat.url)
    assert cvat.password not in client.get("/api/cvat/status").text

    tasks = client.get("/api/cvat/tasks").json()
    assert [(t["name"], t["size"], t["labels"], t["subset"]) for t in tasks] == [
        ("own", 2, ["green", "red"], ""),
        ("in-project", 3, ["owl", "x"], "Train"),
    ]
    projects = client.get("/api/cvat/projects").json()
    assert projects == [{"id": project, "name": "birds", "tasks": 1, "size": 3, "labels": ["owl", "x"]}]


def test_listing_follows_cvat_pagination(client: TestClient, cvat: CvatStandin) -> None:
    for index in range(23):  # CVAT pages hold 10 items
        cvat.add_task(f"t{index}", frames(["red"]), labels=["red"])
    assert len(client.get("/api/cvat/tasks").json()) == 23
    assert cvat.requests.count(("GET", "/api/tasks")) >= 3


def test_access_token_login(tmp_path: Path, cvat: CvatStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CVAT_BRIDGE_CVAT_USERNAME")
    monkeypatch.delenv("CVAT_BRIDGE_CVAT_PASSWORD")
    with api(tmp_path, cvat_access_token=cvat.access_token) as client:
        assert client.get("/api/cvat/status").json()["user"] == "admin"
    assert ("POST", "/api/auth/login") not in cvat.requests  # the token is sent as a Bearer header
    settings = make_settings(tmp_path / "other", cvat_access_token="not-the-token")
    with pytest.raises(CvatAuthError, match="refused the access token"):
        with connect(settings):
            pass


def test_bad_password_is_a_clear_error_and_no_secret_leaks(tmp_path: Path, cvat: CvatStandin) -> None:
    with api(tmp_path, cvat_password="wrong-password") as client:
        answer = client.get("/api/cvat/tasks")
        assert answer.status_code == 502
        assert "refused user 'admin'" in answer.json()["detail"]
        status = client.get("/api/cvat/status").json()
        assert status["reachable"] and not status["authenticated"] and "refused" in status["detail"]
        started = client.post("/api/collections/cvat", json={"name": "n", "task_id": 1})
        assert started.status_code == 502
        for text in (answer.text, client.get("/api/cvat/status").text, started.text):
            assert "wrong-password" not in text


def test_unreachable_cvat(tmp_path: Path) -> None:
    with api(tmp_path, cvat_url=f"http://127.0.0.1:{free_port()}") as client:
        answer = client.get("/api/cvat/projects")
        assert answer.status_code == 503
        assert "unreachable" in answer.json()["detail"]
        status = client.get("/api/cvat/status").json()
        assert not status["reachable"] and "unreachable" in status["detail"]


def test_not_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CVAT_BRIDGE_CVAT_URL")
    with api(tmp_path) as client:
        answer = client.get("/api/cvat/tasks")
        assert answer.status_code == 503 and "CVAT_BRIDGE_CVAT_URL" in answer.json()["detail"]
        assert client.get("/api/cvat/status").json()["configured"] is False


def test_transient_outage_is_retried_with_backoff(services: Services, cvat: CvatStandin) -> None:
    task = cvat.add_task("t", frames(["red"]), labels=["red"])
    with connect(services.settings) as client:
        cvat.outage = 2  # two 503s, as from a proxy while CVAT restarts
        assert call("read task", lambda: client.tasks.retrieve(task)).name == "t"
        cvat.outage = 5
        with pytest.raises(CvatUnavailable, match="unavailable while trying to read task"):
            call("read task", lambda: client.tasks.retrieve(task))
    cvat.outage = 0
