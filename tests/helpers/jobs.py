"""Job handlers for testing the job machinery itself (registered in runner.HANDLERS by the tests), and
waiting for jobs through the API."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cvat_bridge.jobs.runner import JobContext, JobError

FINISHED = ("succeeded", "failed", "cancelled")


def wait_for_api_job(client, job: dict, timeout: float = 120) -> dict:
    """Poll GET /api/jobs/{id} (client: an authenticated TestClient) until the job has finished."""
    deadline = time.monotonic() + timeout
    while job["status"] not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def echo(ctx: JobContext) -> dict:
    ctx.report(step=1, steps=1)
    return {"echo": ctx.params["value"], "pid": os.getpid()}


def fail(ctx: JobContext) -> None:
    raise JobError(ctx.params["message"])


def crash(ctx: JobContext) -> None:
    raise RuntimeError("unexpected")


def wait_for_cancel(ctx: JobContext) -> None:
    """Writes its pid to params['pid_file'], then loops until cancelled (or 60 s)."""
    Path(ctx.params["pid_file"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ctx.report(alive=time.time())
        ctx.check_cancelled()
        time.sleep(0.05)
    raise JobError("never cancelled")
