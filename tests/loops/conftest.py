"""A bridge for the loop tests: a trained "tiny" colour model, served live with PUBLIC_URL (so loops register
CVAT webhooks), a Nuclio dashboard stand-in and a CVAT stand-in that delivers webhooks to the bridge."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cvat_bridge.services import Services, set_services
from tests.conftest import LiveServer, make_settings
from tests.helpers.models import train_tiny_model
from tests.standins import free_port
from tests.standins.cvat import CvatStandin
from tests.standins.nuclio import NuclioStandin

CLASSES = ("red", "green", "blue")


@dataclass
class LoopBridge:
    services: Services
    server: LiveServer
    nuclio: NuclioStandin
    cvat: CvatStandin
    model_id: int


@pytest.fixture
def loop_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopBridge]:
    with NuclioStandin() as nuclio, CvatStandin(nuclio_url=nuclio.url) as cvat:
        port = free_port()
        settings = make_settings(
            tmp_path_factory.mktemp("loops") / "data",
            public_url=f"http://127.0.0.1:{port}",
            nuclio_url=nuclio.url,
            cvat_url=cvat.url,
            cvat_access_token=cvat.access_token,
        )
        services = Services(settings)
        set_services(services)
        model_id = train_tiny_model(services, classes=CLASSES, name="tiny", epochs=1)
        with LiveServer(services, port) as server:
            yield LoopBridge(services, server, nuclio, cvat, model_id)
        services.jobs.close()
        services.db.dispose()
        set_services(None)
