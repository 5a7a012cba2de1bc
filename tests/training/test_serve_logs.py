"""`cvat-bridge serve` logs each job's start, every epoch's end (val accuracy) and its end on the console."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cvat_bridge.services import Services
from tests.conftest import API_TOKEN, make_settings
from tests.helpers.models import TINY_SETTINGS, make_color_collection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_logs_a_training_from_start_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    services = Services(make_settings(data_dir))
    collection_id = make_color_collection(services, per_class=4)
    services.db.dispose()
    port = free_port()
    env = {**os.environ, "CVAT_BRIDGE_DATA_DIR": str(data_dir), "CVAT_BRIDGE_API_TOKEN": API_TOKEN}
    env.pop("CVAT_BRIDGE_REDIS_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cvat_bridge", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}/api"
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                api.get("/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
                time.sleep(0.2)
        settings = {**TINY_SETTINGS, "epochs": 2}
        model = api.post(
            "/models",
            json={"name": "logged", "collection_id": collection_id, "architecture": "resnet18", **settings},
        ).json()
        deadline = time.monotonic() + 300
        while model["status"] not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.5)
            model = api.get(f"/models/{model['id']}").json()
        assert model["status"] == "succeeded", model["error"]
        time.sleep(1)  # the worker logs its end just after recording it
    finally:
        server.terminate()
        server.wait(timeout=60)
    output = log_path.read_text()
    job, who = model["job_id"], f"model {model['id']} \\(logged v1\\)"
    assert f"job {job} (train) started" in output, output
    assert re.search(rf"{who}: starting", output), output
    for entry in model["metrics"]["history"]:
        assert re.search(
            rf"{who}: epoch {entry['epoch']}/2: train loss {entry['train_loss']:.4f}, "
            rf"val loss {entry['val_loss']:.4f}, val accuracy {100 * entry['val_accuracy']:.1f}%",
            output,
        ), output
    assert re.search(rf"{who}: exporting", output), output
    assert f"job {job} (train) succeeded" in output, output
