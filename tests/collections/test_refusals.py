"""Every refusal is a clear 4xx that registers nothing and leaves no file, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.collections.conftest import OpenClient
from tests.collections.zips import class_files, jpeg, leftovers, symlink, upload, write_zip

GOOD = class_files({"wool": 3, "silk": 3})


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, format="PNG")
    return buffer.getvalue()


REFUSED = {
    "fewer-than-2-classes": (
        {**class_files({"wool": 3}), "__MACOSX/silk/._a.jpg": b"x"},
        {},
        "at least 2 classes with valid images; found only 'wool'",
    ),
    "class-without-valid-image": (
        {**GOOD, "linen/notes.txt": b"x", "linen/broken.jpg": b"broken"},
        {},
        "no valid image in linen/",
    ),
    "names-differ-by-case": (
        {**GOOD, **class_files({"Wool": 2}, start=5)},
        {},
        "class names that differ only by case: 'Wool' vs 'wool'",
    ),
    "parent-path": ({**GOOD, "../evil.jpg": jpeg("wool", 9)}, {}, "unsafe path in the zip: '../evil.jpg'"),
    "nested-parent-path": ({**GOOD, "wool/../../evil.jpg": jpeg("wool", 9)}, {}, "unsafe path"),
    "absolute-path": ({**GOOD, "/tmp/evil.jpg": jpeg("wool", 9)}, {}, "absolute paths and '..' are refused"),
    "windows-drive": ({**GOOD, "C:\\evil.jpg": jpeg("wool", 9)}, {}, "unsafe path"),
    "symlink": ({**GOOD, symlink("wool/link.jpg"): b"/etc/passwd"}, {}, "symbolic link"),
    "file-and-folder": (
        {**GOOD, "wool/wool_0.jpg/x.jpg": jpeg("wool", 9)},
        {},
        "holds 'wool/wool_0.jpg' both as a file and as a folder",
    ),
    "too-many-files": (GOOD, {"max_files": 5}, "holds 6 files, more than the limit of 5"),
    "too-large-unpacked": (GOOD, {"max_uncompressed_bytes": 2000}, "more than the limit of 2000"),
    "compression-ratio": ({**GOOD, "wool/zeros.jpg": bytes(4 * 1024**2)}, {}, "looks like a zip bomb"),
    "pixel-limit": (
        {**GOOD, "wool/huge.png": png((3000, 2000))},
        {"max_image_pixels": 5_000_000},
        "wool/huge.png has 3000x2000 = 6000000 pixels, past the limit of 5000000",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_bad_zip_is_refused_and_leaves_nothing(open_client: OpenClient, tmp_path: Path, case: str) -> None:
    files, settings, message = REFUSED[case]
    services, client = open_client(**settings)
    response = upload(client, write_zip(tmp_path / "bad.zip", files))
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert leftovers(services) == (0, [], [])


def test_refusals_of_the_upload_itself(open_client: OpenClient, tmp_path: Path) -> None:
    services, client = open_client(max_upload_bytes=50_000)
    good = write_zip(tmp_path / "good.zip", GOOD)
    not_zip = tmp_path / "photos.zip"
    not_zip.write_bytes(b"PK but not really a zip" * 10)
    big = write_zip(
        tmp_path / "big.zip",
        {**GOOD, "wool/big.jpg": bytes(range(256)) * 400},
        compression=zipfile.ZIP_STORED,
    )
    cases = [
        (upload(client, not_zip), 422, "the upload is not a readable zip file"),
        (upload(client, big), 413, "the upload is larger than the limit of 50000 bytes"),
        (upload(client, good, name="  "), 422, "give the collection a name"),
        (upload(client, good, val_ratio=1.5), 422, "val_ratio must be between 0 and 1"),
        (upload(client, good, val_ratio="lots"), 400, "val_ratio must be a number, got 'lots'"),
        (upload(client, good, seed="1.5"), 400, "seed must be an integer, got '1.5'"),
        (client.post("/api/collections", data={"name": "x"}), 400, "send the upload as multipart/form-data"),
        (
            client.post("/api/collections", files={"other": ("a.zip", b"x")}, data={"name": "x"}),
            400,
            "attach the zip as the form field 'file'",
        ),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert message in response.json()["detail"]
    assert leftovers(services) == (0, [], [])


def test_refusal_keeps_what_is_stored(open_client: OpenClient, tmp_path: Path) -> None:
    services, client = open_client()
    first = upload(client, write_zip(tmp_path / "good.zip", GOOD)).json()
    stored = services.storage.collections_dir
    before = sorted(stored.rglob("*"))
    refused = upload(client, write_zip(tmp_path / "bad.zip", {**GOOD, "../x.jpg": b"x"}))
    assert refused.status_code == 422
    assert [listed["id"] for listed in client.get("/api/collections").json()] == [first["id"]]
    assert client.get(f"/api/collections/{first['id']}").json() == first
    assert sorted(stored.rglob("*")) == before
