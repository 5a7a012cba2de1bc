"""Two `cvat-bridge serve` processes started at the same moment on a new, empty data dir (and a new, empty
PostgreSQL database) both come up: one creates the schema (under the migration lock) and the API token, the
other waits and uses them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.conftest import fresh_postgres_database
from tests.helpers.processes import bridge_env, start_bridge, stop_group, wait_until
from tests.standins import free_port

TRIES = 10


def _answers(port: int, token_file: Path, process: subprocess.Popen, log: Path) -> bool:
    """Whether the service on port is ready and answers an API call with the data dir's token."""
    if process.poll() is not None:
        raise AssertionError(f"a service exited ({process.returncode}):\n{log.read_text()}")
    if not token_file.is_file():
        return False
    headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    try:
        ready = httpx.get(f"http://127.0.0.1:{port}/api/health/ready", timeout=5)
        models = httpx.get(f"http://127.0.0.1:{port}/api/models", headers=headers, timeout=5)
    except httpx.HTTPError:
        return False
    if ready.status_code == 503 or models.status_code >= 500:
        raise AssertionError(f"a service answered {ready.text} / {models.text}:\n{log.read_text()}")
    return ready.status_code == 200 and models.status_code == 200 and models.json() == []


def test_two_services_started_at_once_on_a_new_data_dir_both_come_up(tmp_path: Path) -> None:
    for attempt in range(TRIES):
        _start_two_at_once(tmp_path / f"data-{attempt}", tmp_path / f"try-{attempt}", database_url=None)


def test_two_services_started_at_once_on_a_new_postgresql_database_both_come_up(tmp_path: Path) -> None:
    for attempt in range(TRIES):
        with fresh_postgres_database() as database_url:
            _start_two_at_once(tmp_path / f"data-{attempt}", tmp_path / f"try-{attempt}", database_url)


def _start_two_at_once(data_dir: Path, logs: Path, database_url: str | None) -> None:
    # data_dir does not exist yet, and no API token is given: one is generated
    env = bridge_env(data_dir, database_url=database_url)
    logs.mkdir()
    services = [(free_port(), logs / f"serve-{index}.log") for index in range(2)]
    processes = [start_bridge(["serve", "--port", str(port)], env, log) for port, log in services]
    try:
        for (port, log), process in zip(services, processes, strict=True):
            wait_until(
                lambda: _answers(port, data_dir / "api-token", process, log),  # noqa: B023 (called at once)
                90,
                f"{data_dir.name}: the service on port {port} did not come up; see {log}",
            )
    finally:
        for process in processes:
            stop_group(process)
