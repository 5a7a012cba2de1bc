"""The dataset doctor: junk, non-images, corrupt, truncated and unsupported files are skipped with a reason;
odd but valid images are accepted and stored byte for byte; duplicates and leakage are reported
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from cvat_bridge.db import Image as ImageRow
from cvat_bridge.ingest.store import collection_to_dict, load_samples
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.services import Services
from cvat_bridge.thumbnails import THUMBNAIL_DIR, THUMBNAIL_SIDE
from tests.collections.zips import class_files, example, write_zip


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def rgb(size: tuple[int, int] = (40, 20)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(sum(size)).integers(0, 255, (size[1], size[0], 3), np.uint8))


def odd_images() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """name -> (file bytes, size as displayed)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: a 40x20 file shows as 20x40
    sixteen = Image.fromarray(np.arange(40 * 20, dtype=np.uint16).reshape(20, 40) * 80)  # mode I;16
    return {
        "exif_rotated.jpg": (encoded(rgb(), "JPEG", exif=exif.tobytes()), (20, 40)),
        "palette.png": (encoded(rgb().convert("P"), "PNG"), (40, 20)),
        "cmyk.jpg": (encoded(rgb().convert("CMYK"), "JPEG"), (40, 20)),
        "sixteen_bit.png": (encoded(sixteen, "PNG"), (40, 20)),
        "alpha.png": (encoded(rgb().convert("RGBA"), "PNG"), (40, 20)),
        "gray.jpg": (encoded(rgb().convert("L"), "JPEG"), (40, 20)),
        "gray_alpha.png": (encoded(rgb().convert("LA"), "PNG"), (40, 20)),
        "bitmap.bmp": (encoded(rgb(), "BMP"), (40, 20)),
        "photo.webp": (encoded(rgb(), "WEBP"), (40, 20)),
        "scan.tiff": (encoded(rgb(), "TIFF"), (40, 20)),
    }


def test_bad_files_are_skipped_with_a_reason(db_services: Services) -> None:
    data = collection_to_dict(import_zip(db_services, example("doctor.zip"), name="f"))
    report = data["report"]
    assert data["num_images"] == 6
    kinds = {item["path"]: item["kind"] for item in report["skipped"]}
    assert kinds == {
        "__MACOSX/wool/._wool_0.jpg": "junk",
        "wool/.DS_Store": "junk",
        "silk/Thumbs.db": "junk",
        "silk/.hidden.jpg": "junk",
        "wool/notes.txt": "not_image",
        "wool/garbage.jpg": "corrupt",
        "wool/truncated.jpg": "corrupt",
        "silk/truncated.png": "corrupt",
        "silk/animation.gif": "unsupported_format",
        "README.md": "outside_class_folder",
    }
    reasons = {item["path"]: item["reason"] for item in report["skipped"]}
    assert "truncated" in reasons["wool/truncated.jpg"]
    assert "GIF images are not supported" in reasons["silk/animation.gif"]
    assert report["skipped_total"] == 10
    assert report["skipped_by_kind"] == {
        "junk": 4,
        "outside_class_folder": 1,
        "not_image": 1,
        "corrupt": 3,
        "unsupported_format": 1,
    }
    collection_dir = db_services.storage.collection_dir(data["id"])
    stored = sorted(
        p.relative_to(collection_dir).as_posix() for p in collection_dir.rglob("*") if p.is_file()
    )
    good = [f"{label}/{label}_{i}.jpg" for label in ("silk", "wool") for i in range(3)]
    # Skipped files are not kept; only small JPEG thumbnails of the readable ones, for the collection page.
    assert [path for path in stored if not path.startswith(f"{THUMBNAIL_DIR}/")] == good
    for path in stored:
        if path.startswith(f"{THUMBNAIL_DIR}/"):
            with Image.open(collection_dir / path) as thumbnail:
                assert thumbnail.format == "JPEG" and max(thumbnail.size) <= THUMBNAIL_SIDE


def test_odd_images_are_accepted_as_uploaded(db_services: Services, tmp_path: Path) -> None:
    odd = odd_images()
    files = {f"wool/{name}": content for name, (content, _) in odd.items()}
    files.update(class_files({"silk": 2}))
    collection = import_zip(db_services, write_zip(tmp_path / "odd.zip", files), name="odd")
    assert collection.num_images == len(odd) + 2
    assert collection.report["skipped_total"] == 0
    samples = load_samples(db_services, collection.id)
    for path, label in samples.samples["train"] + samples.samples["val"]:
        if label != "wool":
            continue
        content, displayed = odd[path.name]
        assert path.read_bytes() == content, path.name  # byte for byte, never rewritten
        image = open_image(path)
        assert (image.mode, image.size) == ("RGB", displayed), path.name
    with db_services.db.session() as session:
        query = session.query(ImageRow).filter_by(collection_id=collection.id)
        rows = {Path(row.path).name: row for row in query}
    assert (rows["exif_rotated.jpg"].width, rows["exif_rotated.jpg"].height) == (20, 40)
    assert rows["cmyk.jpg"].sha256 == hashlib.sha256(odd["cmyk.jpg"][0]).hexdigest()


def test_duplicates_leakage_and_label_conflicts_are_reported(db_services: Services) -> None:
    report = import_zip(db_services, example("duplicates.zip"), name="d").report
    groups = {tuple(group["paths"]) for group in report["duplicates"]}
    assert groups == {
        ("train/wool/twin_a.jpg", "train/wool/twin_b.jpg"),
        ("train/wool/spread.jpg", "val/wool/spread_copy.jpg"),
        ("train/silk/confused.jpg", "train/wool/confused.jpg"),
    }
    assert report["duplicate_groups"] == 3
    assert [(g["paths"], g["splits"]) for g in report["leakage"]] == [
        (["train/wool/spread.jpg", "val/wool/spread_copy.jpg"], ["train", "val"])
    ]
    assert [g["labels"] for g in report["label_conflicts"]] == [["silk", "wool"]]
