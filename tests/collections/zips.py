"""Small zips for the collection tests: the examples of collections/README.md (collections/examples), and
real JPEG bytes under any other folder tree, written with zipfile."""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from fastapi.testclient import TestClient

from cvat_bridge.ingest.store import list_collections
from cvat_bridge.services import Services
from tests.helpers.images import PALETTE, class_image, image_bytes

EXAMPLES = Path(__file__).resolve().parents[2] / "collections" / "examples"


def example(name: str) -> Path:
    """An example zip of collections/README.md (made by collections/make_examples.py)."""
    path = EXAMPLES / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: python collections/make_examples.py writes it")
    return path


def example_files(name: str, prefix: str = "") -> dict[str, bytes]:
    """The members of an example zip -> their bytes (under a top folder prefix, when given)."""
    with zipfile.ZipFile(example(name)) as archive:
        return {prefix + info.filename: archive.read(info) for info in archive.infolist()}


def jpeg(label: str, index: int = 0) -> bytes:
    """A small JPEG, distinct per (label, index); any label works (its colour comes from its name)."""
    colour = sorted(PALETTE)[zlib.crc32(label.encode()) % len(PALETTE)]
    return image_bytes(class_image(colour, zlib.crc32(f"{label}-{index}".encode()), size=(24, 16)))


def class_files(counts: Mapping[str, int], prefix: str = "", start: int = 0) -> dict[str, bytes]:
    """``{prefix}<class>/<class>_<i>.jpg`` -> JPEG bytes, distinct per class and i (from ``start``)."""
    return {
        f"{prefix}{label}/{label}_{i}.jpg": jpeg(label, i)
        for label, count in counts.items()
        for i in range(start, start + count)
    }


def write_zip(
    path: Path, files: Mapping[str | zipfile.ZipInfo, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    """A zip of these entries (a ZipInfo key writes its raw name and attributes, e.g. a symlink)."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data, compress_type=compression)
    return path


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def upload(client: TestClient, zip_path: Path, name: str = "fabrics", **fields: object):
    """POST the zip to /api/collections as the page does (multipart: file, name, optional fields)."""
    with open(zip_path, "rb") as handle:
        return client.post(
            "/api/collections",
            files={"file": (zip_path.name, handle, "application/zip")},
            data={"name": name, **{key: str(value) for key, value in fields.items()}},
        )


def leftovers(services: Services) -> tuple[int, list[str], list[str]]:
    """What an import can leave behind: collection rows, collection folders, staging folders."""
    storage = services.storage
    return (
        len(list_collections(services)),
        sorted(path.name for path in storage.collections_dir.iterdir()),
        sorted(path.name for path in storage.staging_dir.iterdir()),
    )
