"""Real processes for fault tests and bench/faults: a redis-server on its own port, `cvat-bridge serve` and
`cvat-bridge worker` subprocesses, and what /proc says about processes (alive, children, RSS)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.standins import free_port


class RedisServer:
    """A throw-away redis-server (no persistence) on a free port; stop() and start() it to fake an outage."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        from redis import Redis

        client = Redis.from_url(self.url, socket_connect_timeout=1)
        wait_until(lambda: _pings(client), 20, "redis-server did not start")
        client.close()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pings(client: Any) -> bool:
    from redis.exceptions import RedisError

    try:
        return bool(client.ping())
    except RedisError:
        return False


def bridge_env(data_dir: Path, **settings: Any) -> dict[str, str]:
    """The environment of a cvat-bridge subprocess: this tree on PYTHONPATH, CVAT_BRIDGE_* from settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CVAT_BRIDGE_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["CVAT_BRIDGE_DATA_DIR"] = str(data_dir)
    env.update(
        {f"CVAT_BRIDGE_{key.upper()}": str(value) for key, value in settings.items() if value is not None}
    )
    return env


def start_bridge(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m cvat_bridge ARGS` in its own process group, output to log."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cvat_bridge", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Service:
    """`cvat-bridge serve` on a free port (a context manager); `kill()` is a `kill -9` of the service only."""

    def __init__(self, data_dir: Path, token: str, log: Path, **settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self._env = bridge_env(data_dir, api_token=token, **settings)
        self._log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        self.process = start_bridge(["serve", "--port", str(self.port)], self._env, self._log)
        wait_until(self._up, 60, f"the service did not start; see {self._log}")
        return self

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the service exited ({self.process.returncode}); see {self._log}")
        try:
            return self.client.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()
        if self.process is not None:
            stop_group(self.process)


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to a process started in its own session (start_bridge) and its children; SIGKILL after
    timeout seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(condition: Any, timeout: float, message: str, interval: float = 0.1) -> Any:
    """Poll condition() until it returns something true; AssertionError(message) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every live process below pid (children, grandchildren...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
