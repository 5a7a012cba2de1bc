"""The compose files, read by Docker Compose v2 as a CVAT admin runs them: the add-on layered on CVAT
v2.73.0's own docker-compose.yml and serverless overlay (tests/data/cvat-compose), or the standalone file,
with the services, networks, volumes and settings that deploy/README.md promises."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cvat_bridge.settings import Settings
from tests.conftest import data_path
from tests.deploy.files import ADDON, DEPLOY, STANDALONE, compose_config
from trainer.weights import DOWNLOAD_ENV

# CVAT v2.73.0's own docker-compose.yml and serverless overlay, as in CVAT's checkout.
CVAT_COMPOSE = data_path("cvat-compose")
CVAT_FILES = ("docker-compose.yml", "components/serverless/docker-compose.serverless.yml")
BRIDGE_SERVICES = {"cvat_bridge", "cvat_bridge_worker", "cvat_bridge_worker_gpu", "cvat_bridge_redis"}
APP_SERVICES = ("cvat_bridge", "cvat_bridge_worker", "cvat_bridge_worker_gpu")
ALL_PROFILES = ("gpu", "postgres")


@pytest.fixture
def cvat_checkout(tmp_path: Path) -> Path:
    """A copy of CVAT's folder (the project is named `cvat` by CVAT's file, so its network is `cvat_cvat`)."""
    return Path(shutil.copytree(CVAT_COMPOSE, tmp_path / "cvat"))


def layered(checkout: Path, addon: bool = True, **kwargs: Any) -> dict[str, Any]:
    """The command of deploy/README.md, run in CVAT's folder (without the add-on: CVAT alone)."""
    files = [checkout / name for name in CVAT_FILES] + ([ADDON] if addon else [])
    return compose_config(files, cwd=checkout, **kwargs)


def reachable(config: dict[str, Any], client: str, url: str) -> str:
    """The service that answers `url` for `client`: its host must be a service name or network alias on one
    of the client's networks."""
    host = urlsplit(url).hostname
    client_networks = set(config["services"][client]["networks"])
    for name, service in config["services"].items():
        for network, options in service["networks"].items():
            if network in client_networks and host in (name, *options.get("aliases", [])):
                return name
    raise AssertionError(
        f"{client} cannot reach {url}: no service {host!r} on its networks {client_networks}"
    )


def test_addon_joins_cvat_and_reaches_cvat_nuclio_and_its_queue(cvat_checkout: Path) -> None:
    (cvat_checkout / ".env").write_text((DEPLOY / ".env.example").read_text())  # as deploy/README.md says
    config = layered(cvat_checkout, profiles=ALL_PROFILES)
    services = config["services"]
    assert BRIDGE_SERVICES | {"cvat_bridge_db", "cvat_server", "nuclio"} <= set(services)
    assert config["networks"]["cvat"]["name"] == "cvat_cvat"
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["CVAT_BRIDGE_CVAT_URL"] == "http://cvat-server:8080"
        assert env["CVAT_BRIDGE_NUCLIO_URL"] == "http://nuclio:8070"
        assert reachable(config, name, env["CVAT_BRIDGE_CVAT_URL"]) == "cvat_server"
        assert reachable(config, name, env["CVAT_BRIDGE_NUCLIO_URL"]) == "nuclio"
        assert reachable(config, name, env["CVAT_BRIDGE_REDIS_URL"]) == "cvat_bridge_redis"
        assert "cvat" in services[name]["networks"]
        assert ("cvat_bridge_data", "/data") in services[name]["volumes"]
        assert ("cvat_bridge_torch", "/torch") in services[name]["volumes"]
    # Nuclio downloads function code from the bridge: the address it is given must be the bridge's.
    public_url = services["cvat_bridge"]["environment"]["CVAT_BRIDGE_PUBLIC_URL"]
    assert reachable(config, "nuclio", public_url) == "cvat_bridge"
    assert services["cvat_bridge"]["ports"] == [("8000", "8000")]  # the API and pages, on the host
    assert {"cvat_bridge_data", "cvat_bridge_torch", "cvat_bridge_redis", "cvat_bridge_postgres"} <= set(
        config["volumes"]
    )


def test_addon_adds_its_own_services_and_volumes_and_changes_none_of_cvats(cvat_checkout: Path) -> None:
    cvat = layered(cvat_checkout, addon=False, profiles=ALL_PROFILES)
    merged = layered(cvat_checkout, profiles=ALL_PROFILES)
    added = set(merged["services"]) - set(cvat["services"])
    assert added == BRIDGE_SERVICES | {"cvat_bridge_db"}
    assert {name: merged["services"][name] for name in cvat["services"]} == cvat["services"]
    assert {name: merged["volumes"][name] for name in cvat["volumes"]} == cvat["volumes"]
    assert merged["networks"] == cvat["networks"]  # the add-on joins CVAT's network, adds none


def test_addon_settings_follow_the_environment(cvat_checkout: Path) -> None:
    (cvat_checkout / ".env").write_text(
        "CVAT_BRIDGE_API_TOKEN=from-dot-env\n"
        "CVAT_BRIDGE_DATABASE_URL=postgresql://cvat_bridge:pw@cvat_bridge_db:5432/cvat_bridge\n"
        "CVAT_BRIDGE_WORKERS=0\nCVAT_BRIDGE_GPU_WORKERS=2\n"
    )
    config = layered(cvat_checkout, profiles=ALL_PROFILES, env={"CVAT_BRIDGE_PORT": "8123"})
    services = config["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["CVAT_BRIDGE_API_TOKEN"] == "from-dot-env"
        assert reachable(config, name, env["CVAT_BRIDGE_DATABASE_URL"]) == "cvat_bridge_db"
    assert services["cvat_bridge_worker"]["deploy"]["replicas"] == 0
    assert services["cvat_bridge_worker_gpu"]["deploy"]["replicas"] == 2
    assert services["cvat_bridge"]["ports"] == [("8123", "8000")]


def test_unset_secrets_are_not_passed_as_empty_values(cvat_checkout: Path) -> None:
    """An empty CVAT_BRIDGE_API_TOKEN would be a token; unset ones must stay unset (null: not passed)."""
    env = layered(cvat_checkout)["services"]["cvat_bridge"]["environment"]
    for name in ("CVAT_BRIDGE_API_TOKEN", "CVAT_BRIDGE_DATABASE_URL", "CVAT_BRIDGE_CVAT_PASSWORD"):
        assert name in env and env[name] is None, name


def test_gpu_worker_reserves_every_gpu_and_runs_the_gpu_image(cvat_checkout: Path) -> None:
    worker = layered(cvat_checkout, profiles=("gpu",))["services"]["cvat_bridge_worker_gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}]  # -1: compose's "all"
    assert worker["image"].startswith("cvat-bridge-gpu:")
    assert worker["command"] == ["worker"]
    assert worker["profiles"] == ["gpu"]


def test_standalone_builds_both_images_on_a_network_of_its_own() -> None:
    config = compose_config([STANDALONE], cwd=DEPLOY, profiles=ALL_PROFILES)
    services = config["services"]
    assert BRIDGE_SERVICES | {"cvat_bridge_db"} == set(services)
    root = DEPLOY.parent
    assert Path(services["cvat_bridge"]["build"]["context"]) == root
    assert services["cvat_bridge"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["cvat_bridge_worker"]["build"] == services["cvat_bridge"]["build"]
    assert services["cvat_bridge_worker_gpu"]["build"]["dockerfile"] == "deploy/Dockerfile.gpu"
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["CVAT_BRIDGE_CVAT_URL"] is None and env["CVAT_BRIDGE_NUCLIO_URL"] is None  # no CVAT here
        assert reachable(config, name, env["CVAT_BRIDGE_REDIS_URL"]) == "cvat_bridge_redis"
        assert services[name]["depends_on"]["cvat_bridge_redis"]["condition"] == "service_healthy"
    assert config["networks"]["cvat"]["name"] == "cvat_bridge"


def test_every_setting_in_the_files_is_one_the_service_reads() -> None:
    """A misspelt CVAT_BRIDGE_* variable would be ignored silently: each must be a setting (or a knob read by
    name), and each variable of .env.example must be used by the compose files."""
    known = {f"CVAT_BRIDGE_{field.upper()}" for field in Settings.model_fields} | {DOWNLOAD_ENV}
    compose_only = {"CVAT_BRIDGE_IMAGE", "CVAT_BRIDGE_GPU_IMAGE", "CVAT_BRIDGE_PORT", "CVAT_BRIDGE_WORKERS",
                    "CVAT_BRIDGE_GPU_WORKERS", "CVAT_BRIDGE_POSTGRES_PASSWORD"}  # fmt: skip
    addon = ADDON.read_text()
    passed = set(re.findall(r"^\s+(CVAT_BRIDGE_\w+):", addon, re.MULTILINE))
    assert passed and passed <= known, passed - known
    interpolated = set(re.findall(r"\$\{(CVAT_BRIDGE_\w+)", addon))
    assert interpolated <= known | compose_only, interpolated - known - compose_only
    example = set(re.findall(r"^#?(CVAT_BRIDGE_\w+)=", (DEPLOY / ".env.example").read_text(), re.MULTILINE))
    assert example <= passed | interpolated, example - passed - interpolated
    readme = (DEPLOY / "README.md").read_text()
    assert [name for name in sorted(passed | interpolated) if name not in readme] == []


def test_readme_describes_every_service_and_volume() -> None:
    addon = yaml.safe_load(ADDON.read_text())
    readme = (DEPLOY / "README.md").read_text()
    documented = set(re.findall(r"^\| `(cvat_bridge\w*)` \|", readme, re.MULTILINE))
    assert documented == set(addon["services"])
    assert [volume for volume in addon["volumes"] if f"`{volume}`" not in readme] == []
