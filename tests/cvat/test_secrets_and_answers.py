"""Credentials are masked wherever they could be shown (status, relayed CVAT errors, worker messages), and
answers from CVAT that are not what cvat-sdk expects are a 502 with a clear message, never a 500."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cvat.test_connection import api
from tests.standins import free_port
from tests.standins.cvat import CvatStandin


def test_status_masks_the_password_of_the_cvat_url(tmp_path: Path, cvat: CvatStandin) -> None:
    with_credentials = cvat.url.replace("http://", "http://admin:url-secret@")
    with api(tmp_path, cvat_url=with_credentials) as client:
        status = client.get("/api/cvat/status")
    assert status.status_code == 200
    assert "url-secret" not in status.text
    assert status.json()["url"] == cvat.url.replace("http://", "http://admin:***@")


@pytest.mark.parametrize("login", ["password", "access_token"])
def test_a_cvat_error_that_quotes_the_request_never_relays_our_secrets(
    tmp_path: Path, cvat: CvatStandin, login: str
) -> None:
    if login == "password":
        cvat.echo_path, settings, secret = "/api/auth/login", {}, cvat.password
    else:
        cvat.echo_path = "/api/users/self"
        settings, secret = {"cvat_access_token": cvat.access_token}, cvat.access_token
    with api(tmp_path, **settings) as client:
        answer = client.get("/api/cvat/tasks")
        status = client.get("/api/cvat/status")
    assert answer.status_code == 502, answer.text
    assert "CVAT answered 422" in answer.json()["detail"] and "invalid request" in answer.json()["detail"]
    for text in (answer.text, status.text):
        assert secret not in text
    assert "***" in answer.json()["detail"]


UNEXPECTED = {
    "about without its fields": ("application/json", json.dumps({"name": "not quite CVAT"}).encode()),
    "html": ("text/html", b"<html><body>Sign in to the proxy</body></html>"),
    "invalid json": ("application/json", b'{"name": "CVAT", "version": '),
}


@pytest.mark.parametrize("case", UNEXPECTED)
def test_an_answer_cvat_sdk_cannot_read_is_a_502(tmp_path: Path, cvat: CvatStandin, case: str) -> None:
    cvat.about_answer = UNEXPECTED[case]
    with api(tmp_path) as client:
        answer = client.get("/api/cvat/projects")
        status = client.get("/api/cvat/status")
        started = client.post("/api/collections/cvat", json={"name": "n", "task_id": 1})
    assert answer.status_code == 502, answer.text
    assert "cannot read" in answer.json()["detail"] and "CVAT_BRIDGE_CVAT_URL" in answer.json()["detail"]
    assert status.status_code == 200 and not status.json()["authenticated"]
    assert "cannot read" in status.json()["detail"]
    assert started.status_code == 502


def test_the_worker_never_prints_the_redis_password(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CVAT_BRIDGE_DATA_DIR": str(tmp_path / "data"),
        "CVAT_BRIDGE_REDIS_URL": f"redis://:redis-secret@127.0.0.1:{free_port()}/7",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cvat_bridge", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "cannot reach Redis at redis://:***@127.0.0.1" in output
    assert "redis-secret" not in output
