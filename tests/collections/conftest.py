"""Fixtures of the collection tests: services and an API client on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.services import Services
from tests.conftest import API_TOKEN, _close, make_settings

OpenClient = Callable[..., tuple[Services, TestClient]]


@pytest.fixture
def db_services(tmp_path: Path, database_url: str | None) -> Iterator[Services]:
    """Services on a fresh data dir, once on SQLite and once on PostgreSQL."""
    svc = Services(make_settings(tmp_path / "data", database_url=database_url))
    yield svc
    _close(svc)


@pytest.fixture
def open_client(tmp_path: Path, database_url: str | None) -> Iterator[OpenClient]:
    """``open_client(**settings)``: services and an API client on a fresh data dir, once on SQLite and
    once on PostgreSQL (the ``database_url`` parameter)."""
    with ExitStack() as stack:

        def open_(**overrides: object) -> tuple[Services, TestClient]:
            svc = Services(make_settings(tmp_path / "data", database_url=database_url, **overrides))
            stack.callback(_close, svc)
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            return svc, stack.enter_context(TestClient(create_app(svc), headers=headers))

        yield open_
