"""POST /api/loops/webhook: the one /api route without the API token. It answers only deliveries signed with
the secret of a loop it knows (unsigned 401, wrong signature or unknown webhook 403, each logged), has a
body limit, and queues work instead of doing it; every other loop route needs the token."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cvat_bridge.db import Job, Loop, LoopRound
from cvat_bridge.loops.webhook import sign
from cvat_bridge.services import Services

SECRET = "a-loop-secret"


@pytest.fixture
def reviewing(services: Services) -> tuple[int, int]:
    """A loop with webhook 5 whose round 1 waits for CVAT job 9."""
    with services.db.session() as session:
        loop = Loop(
            name="l",
            project_id=1,
            strategy="margin",
            budget=1,
            auto_tag_threshold=1.0,
            webhook_id=5,
            webhook_secret=SECRET,
        )
        session.add(loop)
        session.flush()
        row = LoopRound(loop_id=loop.id, number=1, state="reviewing", review_job_id=9)
        session.add(row)
        session.flush()
        return loop.id, row.id


def deliver(client: TestClient, payload: dict, secret: str | None = SECRET) -> httpx.Response:
    raw = json.dumps(payload).encode()
    headers = {"Authorization": "", "Content-Type": "application/json"}
    if secret is not None:
        headers["X-Signature-256"] = sign(secret, raw)
    return client.post("/api/loops/webhook", content=raw, headers=headers)


def checks(services: Services) -> int:
    with services.db.session() as session:
        return len(session.scalars(select(Job).where(Job.kind == "loop_check")).all())


def test_signed_completion_queues_a_check_and_nothing_else_does(
    client: TestClient, services: Services, reviewing: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    completed = {
        "event": "update:job",
        "webhook_id": 5,
        "job": {"id": 9, "state": "completed", "stage": "annotation"},
    }
    with caplog.at_level(logging.WARNING):
        assert deliver(client, completed, secret=None).status_code == 401
        assert deliver(client, completed, secret="wrong").status_code == 403
        assert deliver(client, {**completed, "webhook_id": 6}).status_code == 403
    assert (
        "unsigned" in caplog.text
        and "wrong signature" in caplog.text
        and "no loop has webhook 6" in caplog.text
    )
    assert checks(services) == 0

    ping = {"event": "ping", "webhook": {"id": 5}, "sender": {}}
    assert deliver(client, ping).json()["action"] == "none"
    in_progress = {**completed, "job": {"id": 9, "state": "in progress", "stage": "annotation"}}
    assert deliver(client, in_progress).status_code == 200
    other_job = {**completed, "job": {"id": 10, "state": "completed", "stage": "annotation"}}
    assert deliver(client, other_job).status_code == 200
    assert checks(services) == 0

    answer = deliver(client, completed)
    assert answer.status_code == 202 and answer.json()["action"] == "checking the review"
    assert checks(services) == 1


def test_the_webhook_is_open_but_limited_and_the_rest_needs_the_token(client: TestClient) -> None:
    big = b"{" + b" " * (1024**2 + 1) + b"}"
    assert client.post("/api/loops/webhook", content=big, headers={"Authorization": ""}).status_code == 413
    anonymous = {"Authorization": ""}
    assert client.get("/api/loops", headers=anonymous).status_code == 401
    assert client.post("/api/loops/1/rounds", headers=anonymous).status_code == 401
    # the route itself is open: an unsigned body is refused (before it is parsed), a signed junk one is 400
    assert client.post("/api/loops/webhook", content=b"not json", headers=anonymous).status_code == 401
    signed_junk = {**anonymous, "X-Signature-256": "sha256=00"}
    assert client.post("/api/loops/webhook", content=b"not json", headers=signed_junk).status_code == 400


def test_acceptance_stage_loops_wait_for_acceptance(
    client: TestClient, services: Services, reviewing: tuple[int, int]
) -> None:
    with services.db.session() as session:
        session.get(Loop, reviewing[0]).review_done = "acceptance"
    completed = {
        "event": "update:job",
        "webhook_id": 5,
        "job": {"id": 9, "state": "completed", "stage": "annotation"},
    }
    assert deliver(client, completed).status_code == 200 and checks(services) == 0
    accepted = {**completed, "job": {"id": 9, "state": "new", "stage": "acceptance"}}
    assert deliver(client, accepted).status_code == 202 and checks(services) == 1
