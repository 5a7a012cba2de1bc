"""Fixtures shared by the whole suite: services on a temporary data dir, SQLite or the real PostgreSQL,
an authenticated API client, and a live server on a free port for browsers and other processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.services import Services, set_services
from cvat_bridge.settings import Settings
from tests.standins import ThreadedServer

API_TOKEN = "test-token"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def data_path(relative: str) -> Path:
    """A file or folder of tests/data (see its README); a missing one is an error, never a reason to skip."""
    path = Path(__file__).resolve().parent / "data" / relative
    if not path.exists():
        raise FileNotFoundError(f"test data missing: {path} (tests/data/README.md says what belongs there)")
    return path


def make_settings(data_dir: Path, **overrides) -> Settings:
    values = {"data_dir": data_dir, "api_token": API_TOKEN, "job_heartbeat_seconds": 0.5}
    values.update(overrides)
    return Settings(**values)


def standin_settings(data_dir: Path, port: int, nuclio: Any, cvat: Any, **overrides) -> Settings:
    """Settings of a bridge served on ``port`` (its PUBLIC_URL) next to the Nuclio and CVAT stand-ins."""
    return make_settings(
        data_dir,
        public_url=f"http://127.0.0.1:{port}",
        nuclio_url=nuclio.url,
        cvat_url=cvat.url,
        cvat_access_token=cvat.access_token,
        **overrides,
    )


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL at 127.0.0.1:5432, dropped afterwards."""
    name = f"cvat_bridge_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL at 127.0.0.1:5432, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Run a test on both databases: the embedded SQLite (None: the default) and PostgreSQL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """Services on SQLite in a temporary data dir (use `database_url` and make_settings for both DBs)."""
    yield from services_on(tmp_path / "data")


def services_on(data_dir: Path) -> Iterator[Services]:
    """A fixture body: Services on ``data_dir`` (SQLite), set as the process's services, closed after."""
    svc = Services(make_settings(data_dir))
    set_services(svc)
    yield svc
    _close(svc)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """API client that sends the token; the app's lifespan (job recovery, reaper) runs."""
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as test_client:
        yield test_client


def _close(svc: Services) -> None:
    if "jobs" in svc.__dict__:
        svc.jobs.close()
    if "db" in svc.__dict__:
        svc.db.dispose()
    set_services(None)


class LiveServer(ThreadedServer):
    """The real app served by uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, services: Services, port: int | None = None) -> None:
        self.services = services
        super().__init__(create_app(services), port)


@pytest.fixture
def live_server(services: Services) -> Iterator[LiveServer]:
    with LiveServer(services) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from Debian, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server: LiveServer):
    """A browser page that already knows the API token (as a user who pasted it once)."""
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(f"localStorage.setItem('cvat-bridge-token', '{API_TOKEN}')")
    browser_page = context.new_page()
    yield browser_page
    context.close()
