"""A full disk: uploads are refused 507 with nothing registered; a training fails with the real reason and
leaves no partial file. Simulated (ENOSPC from a write) everywhere, and for real on a small tmpfs as root."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.services import Services
from tests.conftest import API_TOKEN, services_on
from tests.helpers.images import class_image, image_bytes
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_model


def partial_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".partial")]


def test_a_write_failing_for_space_fails_the_training_with_the_reason(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = torch.save

    def save_until_full(obj, file, *args, **kwargs):
        if Path(getattr(file, "name", file)).name.startswith("checkpoint.pt"):
            if isinstance(file, (str, os.PathLike)):
                Path(file).write_bytes(b"\0" * 4096)  # half a file, then the disk is full
            else:
                file.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    collection_id = make_color_collection(services)
    model = train_model(
        services, collection_id=collection_id, architecture="resnet18", name="full", settings=TINY_SETTINGS
    )
    folder = services.storage.model_dir(model.id)
    assert model.job.status == "failed"
    assert model.job.error.startswith(f"no space left on device while writing {folder / 'checkpoint.pt'}")
    assert partial_files(services.storage.root) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs as the data dir (needs root to mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the data dir needs root")
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture
def small_disk_services(small_disk: Path) -> Iterator[Services]:
    yield from services_on(small_disk)


def random_zip(size: int) -> bytes:
    """A zip of one class folder with images and a large incompressible file beside them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(4):
            archive.writestr(f"red/red_{index}.jpg", image_bytes(class_image("red", index)))
        archive.writestr("red/big.bin", os.urandom(size))
    return buffer.getvalue()


def test_on_a_full_disk_uploads_are_507_and_trainings_fail_with_the_reason(
    small_disk_services: Services,
) -> None:
    services = small_disk_services
    root = services.storage.root
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        answer = client.post(
            "/api/collections",
            files={"file": ("big.zip", random_zip(60 * 1024**2))},
            data={"name": "too-big"},
        )
        assert answer.status_code == 507, answer.text
        assert "no space left" in answer.json()["detail"]
        assert client.get("/api/collections").json() == []
        assert list(services.storage.collections_dir.iterdir()) == []
        assert list(services.storage.staging_dir.rglob("*.zip")) == []

        collection_id = make_color_collection(services)
        stats = os.statvfs(root)
        filler = root / "filler"
        filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 2 * 1024**2))  # 2 MiB left
        model = train_model(
            services,
            collection_id=collection_id,
            architecture="resnet18",
            name="full",
            settings=TINY_SETTINGS,
        )
        assert model.job.status == "failed"
        assert model.job.error.startswith("no space left on device while writing"), model.job.error
        assert partial_files(root) == []
