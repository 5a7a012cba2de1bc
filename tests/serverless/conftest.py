"""One bridge for the serverless tests: two trained versions of model "tiny" (colour classes), served live,
with a Nuclio dashboard stand-in and a CVAT stand-in that lists the dashboard's functions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete

from cvat_bridge.db import Deployment, Job
from cvat_bridge.services import Services, set_services
from tests.conftest import LiveServer, standin_settings
from tests.helpers.models import train_tiny_model
from tests.standins import free_port
from tests.standins.cvat import CvatStandin
from tests.standins.nuclio import NuclioStandin

CLASSES = ("red", "green", "blue")


@dataclass
class Bridge:
    services: Services
    server: LiveServer
    nuclio: NuclioStandin
    cvat: CvatStandin
    v1: int  # model ids of "tiny" version 1 and 2
    v2: int


@pytest.fixture(scope="session")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with NuclioStandin() as nuclio, CvatStandin(nuclio_url=nuclio.url) as cvat:
        port = free_port()
        settings = standin_settings(tmp_path_factory.mktemp("serverless") / "data", port, nuclio, cvat)
        services = Services(settings)
        set_services(services)
        v1 = train_tiny_model(services, classes=CLASSES, name="tiny")
        v2 = train_tiny_model(services, classes=CLASSES, name="tiny", epochs=1)
        with LiveServer(services, port) as server:
            yield Bridge(services, server, nuclio, cvat, v1, v2)
        services.jobs.close()
        services.db.dispose()
        set_services(None)


@pytest.fixture
def fresh_bridge(bridge: Bridge) -> Bridge:
    """The bridge with no deployments and an empty Nuclio."""
    bridge.nuclio.reset()
    with bridge.services.db.session() as session:
        session.execute(delete(Deployment))
        session.execute(delete(Job).where(Job.kind == "deploy"))
    return bridge


@pytest.fixture
def function_folder(bridge: Bridge, tmp_path: Path) -> Path:
    """Model v1's rendered function folder (the CPU variant)."""
    from cvat_bridge.functions.render import load_source, render_function

    return render_function(load_source(bridge.services, bridge.v1), tmp_path / "function")


@pytest.fixture
def gpu_function_folder(bridge: Bridge, tmp_path: Path) -> Path:
    """Model v1's rendered function folder, GPU variant."""
    from cvat_bridge.functions.render import load_source, render_function

    return render_function(load_source(bridge.services, bridge.v1), tmp_path / "function-gpu", variant="gpu")
