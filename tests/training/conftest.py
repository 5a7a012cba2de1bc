"""Trainer fixtures: one tiny model trained once per module (tests that only read it share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cvat_bridge.services import Services, set_services
from tests.conftest import make_settings
from tests.helpers.models import tiny_model, train_tiny_model  # noqa: F401  (tiny_model: a fixture)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, int]]:
    """(services, model id) of a tiny resnet18 trained on red/green/blue images, shared by a module."""
    svc = Services(make_settings(tmp_path_factory.mktemp("trained") / "data"))
    set_services(svc)
    try:
        yield svc, train_tiny_model(svc)
    finally:
        svc.db.dispose()
        set_services(None)
