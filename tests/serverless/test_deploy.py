"""Deploying through the Nuclio dashboard stand-in (which downloads the function zip from the live bridge
and loads the handler): success and CVAT listing it, a failed build reported, undeploy, version switch."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.auth import model_download_token
from cvat_bridge.services import Services, set_services
from tests.conftest import API_TOKEN
from tests.helpers.images import class_image, image_bytes
from tests.serverless.conftest import CLASSES, Bridge

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def api(bridge: Bridge, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{bridge.server.url}/api{path}", headers=AUTH, timeout=60, **kwargs)


def deploy_and_wait(bridge: Bridge, model_id: int, timeout: float = 120) -> dict[str, Any]:
    started = api(bridge, "POST", f"/models/{model_id}/deployment")
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "deploying"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api(bridge, "GET", f"/models/{model_id}/deployment").json()
        # The deployment's state is recorded just before its job's outcome: wait for both.
        if state["state"] != "deploying" and state["job"]["status"] not in ("queued", "running"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"deployment of model {model_id} did not finish: {state}")


def cvat_function_ids(bridge: Bridge) -> dict[str, dict[str, Any]]:
    answer = httpx.get(
        f"{bridge.cvat.url}/api/lambda/functions",
        headers={"Authorization": f"Bearer {bridge.cvat.access_token}"},
        timeout=30,
    )
    answer.raise_for_status()
    return {item["id"]: item for item in answer.json()}


def test_deploy_makes_a_function_cvat_lists_and_runs(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    state = deploy_and_wait(bridge, bridge.v1)

    assert state["state"] == "ready", state
    assert state["in_cvat"] is True and "CVAT lists it" in state["message"]
    name = state["function_name"]
    [config] = bridge.nuclio.posted
    assert config["metadata"]["name"] == name
    assert config["metadata"]["labels"]["nuclio.io/project-name"] == "cvat"
    assert "namespace" not in config["metadata"]  # the dashboard's default namespace is the one CVAT lists
    assert config["metadata"]["annotations"]["version"] == "1"  # Nuclio annotations are strings
    build = config["spec"]["build"]
    assert build["codeEntryType"] == "archive"
    assert build["path"] == f"{bridge.server.url}/api/models/{bridge.v1}/function.zip"
    # How Nuclio downloads the zip from us: with this model's download token; the dashboard, which shows build
    # specs to whoever can open it, never gets the API token.
    token = model_download_token(bridge.services.db, API_TOKEN, bridge.v1)
    assert build["codeEntryAttributes"]["headers"] == {"Authorization": f"Bearer {token}"}
    assert build["codeEntryAttributes"]["workDir"] == f"/{name}"  # the zip's one folder
    assert API_TOKEN not in json.dumps(config)

    listed = cvat_function_ids(bridge)[name]
    assert listed["kind"] == "detector" and listed["version"] == 1
    assert sorted(label["name"] for label in listed["labels_v2"]) == sorted(CLASSES)
    # CVAT's call of the deployed function, through the dashboard: the real handler answers.
    image = base64.b64encode(image_bytes(class_image("green", 31337))).decode()
    answer = httpx.post(
        f"{bridge.nuclio.url}/api/function_invocations",
        headers={"x-nuclio-function-name": name, "x-nuclio-project-name": "cvat"},
        json={"image": image, "threshold": 0.5},
        timeout=60,
    )
    assert [item["label"] for item in answer.json()] == ["green"]


def test_failed_build_is_reported(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    bridge.nuclio.fail_builds = "docker build: no space left on device"

    state = deploy_and_wait(bridge, bridge.v1)

    assert state["state"] == "error"
    assert "no space left on device" in state["message"]
    assert state["job"]["status"] == "failed" and "no space left" in state["job"]["error"]
    # Deploying again once Nuclio is fixed works.
    bridge.nuclio.fail_builds = None
    assert deploy_and_wait(bridge, bridge.v1)["state"] == "ready"


def test_undeploy_removes_the_function(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    name = deploy_and_wait(bridge, bridge.v1)["function_name"]
    refused = api(bridge, "DELETE", f"/models/{bridge.v1}")
    assert refused.status_code == 409 and name in refused.json()["detail"]  # no orphaned function in CVAT

    removed = api(bridge, "DELETE", f"/models/{bridge.v1}/deployment")

    assert removed.status_code == 200, removed.text
    assert removed.json()["state"] == "removed"
    assert name not in bridge.nuclio.functions and bridge.nuclio.deleted == [name]
    assert name not in cvat_function_ids(bridge)
    again = api(bridge, "DELETE", f"/models/{bridge.v1}/deployment")
    assert again.status_code == 404 and "not deployed" in again.json()["detail"]


def test_newer_version_replaces_older_and_rollback_works(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    v1_name = deploy_and_wait(bridge, bridge.v1)["function_name"]

    v2 = deploy_and_wait(bridge, bridge.v2)

    assert v2["state"] == "ready" and v1_name in v2["message"]
    assert set(bridge.nuclio.functions) == {v2["function_name"]}
    assert set(cvat_function_ids(bridge)) == {v2["function_name"]}
    v1_state = api(bridge, "GET", f"/models/{bridge.v1}/deployment").json()
    assert v1_state["state"] == "removed" and "replaced by version 2" in v1_state["message"]

    rollback = deploy_and_wait(bridge, bridge.v1)

    assert rollback["state"] == "ready" and rollback["function_name"] == v1_name
    assert set(bridge.nuclio.functions) == {v1_name}
    assert api(bridge, "GET", f"/models/{bridge.v2}/deployment").json()["state"] == "removed"


def test_deploy_errors_are_clear(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    missing = api(bridge, "POST", "/models/999999/deployment")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    bad_variant = api(bridge, "POST", f"/models/{bridge.v1}/deployment", json={"variant": "tpu"})
    assert bad_variant.status_code == 400 and "variant" in bad_variant.json()["detail"]
    assert api(bridge, "GET", f"/models/{bridge.v1}/deployment").json()["state"] == "not_deployed"
    assert bridge.nuclio.posted == []


def test_a_refusal_quoting_the_config_never_shows_the_download_token(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    bridge.nuclio.echo_refusals = True
    token = model_download_token(bridge.services.db, API_TOKEN, bridge.v1)

    state = deploy_and_wait(bridge, bridge.v1)

    assert state["state"] == "error" and "answered POST /api/functions with 400" in state["message"]
    assert "Bearer ***" in state["message"]
    assert token not in json.dumps(state)


def test_without_a_public_url_deploying_is_refused_whatever_the_host_header(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    settings = bridge.services.settings.model_copy(update={"public_url": None})
    services = Services(settings)
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Host": "attacker.example:8000"}
    with TestClient(create_app(services), headers=headers) as client:
        answer = client.post(f"/api/models/{bridge.v1}/deployment")
    services.db.dispose()
    set_services(bridge.services)

    assert answer.status_code == 409
    assert "CVAT_BRIDGE_PUBLIC_URL" in answer.json()["detail"]
    assert bridge.nuclio.posted == []
    assert api(bridge, "GET", f"/models/{bridge.v1}/deployment").json()["state"] == "not_deployed"


def test_without_nuclio_deploying_is_refused(client) -> None:
    answer = client.post("/api/models/1/deployment")

    assert answer.status_code == 409
    assert "CVAT_BRIDGE_NUCLIO_URL" in answer.json()["detail"]
    assert json.loads(answer.text)["detail"].startswith("Nuclio is not configured")


def test_switching_to_the_gpu_variant_replaces_the_cpu_function(fresh_bridge: Bridge) -> None:
    bridge = fresh_bridge
    cpu_name = deploy_and_wait(bridge, bridge.v1)["function_name"]

    started = api(bridge, "POST", f"/models/{bridge.v1}/deployment", json={"variant": "gpu"})
    assert started.status_code == 202
    while (state := api(bridge, "GET", f"/models/{bridge.v1}/deployment").json())["state"] == "deploying":
        time.sleep(0.3)

    assert state["state"] == "ready" and state["function_name"] == f"{cpu_name}-gpu"
    gpu_config = bridge.nuclio.posted[-1]
    assert gpu_config["spec"]["build"]["path"].endswith(f"/api/models/{bridge.v1}/function-gpu.zip")
    assert gpu_config["spec"]["build"]["codeEntryAttributes"]["workDir"] == f"/{cpu_name}-gpu"
    assert gpu_config["spec"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert set(bridge.nuclio.functions) == {f"{cpu_name}-gpu"}
    # The GPU variant runs in the stand-in as the CPU one does (ONNX Runtime; the CPU provider without a GPU).
    image = base64.b64encode(image_bytes(class_image("blue", 4711))).decode()
    answer = bridge.nuclio.invoke(f"{cpu_name}-gpu", {"image": image, "threshold": 0.5})
    assert answer.status_code == 200 and [item["label"] for item in json.loads(answer.body)] == ["blue"]
