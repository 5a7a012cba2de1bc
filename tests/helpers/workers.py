"""`cvat-bridge worker` processes for the tests on the real Redis: started with the test's settings as their
environment, in a session of their own (output in a log file), stopped with SIGTERM (SIGKILL after 20 s)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from pydantic import SecretStr

from cvat_bridge.settings import Settings

PASSED = ("data_dir", "database_url", "redis_url", "api_token", "cvat_url", "cvat_access_token")


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a worker these settings (their fields a test sets), without downloads."""
    env = {**os.environ, "CVAT_BRIDGE_JOB_HEARTBEAT_SECONDS": "0.5", "CVAT_BRIDGE_WEIGHTS_DOWNLOAD": "0"}
    for name in PASSED:
        value = getattr(settings, name)
        if value is not None:
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[f"CVAT_BRIDGE_{name.upper()}"] = text
    return env


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["cvat-bridge", "worker"],
        env=worker_env(settings),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
