"""Fixtures for the CVAT bridge: the CVAT stand-in, served, and the environment pointing the service at it
(so the suite's ``services`` and ``client`` fixtures talk to it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cvat_bridge.services import Services, set_services
from tests.conftest import make_settings, services_on
from tests.helpers.images import class_image, image_bytes
from tests.helpers.models import train_tiny_model
from tests.standins.cvat import CvatStandin


@pytest.fixture
def cvat() -> Iterator[CvatStandin]:
    with CvatStandin() as server:
        yield server


@pytest.fixture(autouse=True)
def cvat_env(cvat: CvatStandin, monkeypatch: pytest.MonkeyPatch) -> CvatStandin:
    """CVAT_BRIDGE_CVAT_* point at the stand-in (user and password) before any services are built."""
    monkeypatch.setenv("CVAT_BRIDGE_CVAT_URL", cvat.url)
    monkeypatch.setenv("CVAT_BRIDGE_CVAT_USERNAME", cvat.username)
    monkeypatch.setenv("CVAT_BRIDGE_CVAT_PASSWORD", cvat.password)
    return cvat


def frames(labels: list[str], seed: int = 0, prefix: str = "frame") -> list[tuple[str, bytes]]:
    """One JPEG frame per entry, coloured as its class (tests/helpers/images.py), named in sorted order."""
    return [
        (f"{prefix}_{i:03d}.jpg", image_bytes(class_image(label, seed * 1000 + i)))
        for i, label in enumerate(labels)
    ]


def data_dir_with_model(data_dir: Path, train: Callable[[Services], int]) -> tuple[Path, int]:
    """``data_dir`` holding the model ``train`` makes there, and its id."""
    services = Services(make_settings(data_dir))
    set_services(services)
    try:
        model_id = train(services)
    finally:
        services.db.dispose()
        set_services(None)
    return data_dir, model_id


@pytest.fixture(scope="session")
def trained_data_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A data dir holding one tiny trained red/green/blue model (trained once per test session)."""
    return data_dir_with_model(tmp_path_factory.mktemp("cvat-models") / "data", train_tiny_model)


@pytest.fixture
def model_services(trained_data_dir: tuple[Path, int], cvat_env: CvatStandin) -> Iterator[Services]:
    """Services on the trained model's data dir, with CVAT settings pointing at this test's stand-in."""
    yield from services_on(trained_data_dir[0])
