"""GET /api/health stays a cheap liveness answer; GET /api/health/ready checks the database, the queue
(Redis when configured) and the data dir, and answers 503 naming what is down (the real app on uvicorn)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from cvat_bridge.services import Services, set_services
from tests.conftest import POSTGRES_ADMIN_URL, LiveServer, _close, make_settings
from tests.standins import free_port

REDIS_URL = "redis://127.0.0.1:6379/7"


@contextmanager
def served(data_dir: Path, **settings: object) -> Iterator[tuple[Services, str]]:
    services = Services(make_settings(data_dir, **settings))
    set_services(services)
    try:
        with LiveServer(services) as server:
            yield services, server.url
    finally:
        _close(services)


def test_ready_when_every_part_works(tmp_path: Path, postgres_url: str) -> None:
    with served(tmp_path / "data", database_url=postgres_url, redis_url=REDIS_URL) as (_, url):
        answer = httpx.get(f"{url}/api/health/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "queue": "ok", "data_dir": "ok"}}


def test_redis_down_is_503_naming_the_queue_without_its_password(tmp_path: Path) -> None:
    redis_url = f"redis://:queue-secret@127.0.0.1:{free_port()}/7"
    with served(tmp_path / "data", redis_url=redis_url) as (_, url):
        ready = httpx.get(f"{url}/api/health/ready", timeout=30)
        alive = httpx.get(f"{url}/api/health")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready" and body["checks"]["database"] == "ok"
    assert body["checks"]["queue"].startswith("Redis at redis://:***@127.0.0.1")
    assert "queue" in body["detail"] and "queue-secret" not in ready.text
    assert alive.status_code == 200  # liveness does not depend on the queue


def test_a_database_gone_is_503(tmp_path: Path, postgres_url: str) -> None:
    with served(tmp_path / "data", database_url=postgres_url) as (services, url):
        assert httpx.get(f"{url}/api/health/ready").status_code == 200
        services.db.dispose()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{postgres_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        answer = httpx.get(f"{url}/api/health/ready", timeout=30)
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith("unreachable")
    assert answer.json()["detail"].startswith("down: database")


def test_a_data_dir_that_cannot_be_written_is_503(tmp_path: Path) -> None:
    with served(tmp_path / "data") as (services, url):
        staging = services.storage.staging_dir
        shutil.rmtree(staging)
        staging.write_text("not a folder")  # as a broken or read-only volume: nothing can be written there
        answer = httpx.get(f"{url}/api/health/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["data_dir"].startswith("not writable")
