"""The folder trees a zip may hold, and the clear refusals of the others (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cvat_bridge.ingest.store import ImportRefused, collection_to_dict, load_samples
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.services import Services
from tests.collections.zips import class_files, example_files, jpeg, leftovers, write_zip


def imported(services: Services, tmp_path: Path, files: dict[str, bytes], **options) -> dict:
    collection = import_zip(services, write_zip(tmp_path / "upload.zip", files), name="t", **options)
    return collection_to_dict(collection)


@pytest.mark.parametrize("wrapper", ["", "Fabrics 2024/"])
def test_class_folders_are_split_70_30(db_services: Services, tmp_path: Path, wrapper: str) -> None:
    data = imported(db_services, tmp_path, example_files("class-folders.zip", prefix=wrapper))
    assert data["classes"] == ["cotton", "wool"]
    assert data["num_images"] == 17
    assert data["splits"] == {"train": {"cotton": 5, "wool": 7}, "val": {"cotton": 2, "wool": 3}}
    assert data["report"]["layout"] == "class folders"
    assert data["report"]["top_folder"] == (wrapper.strip("/") or None)
    assert data["report"]["split"]["assigned"] == 17


@pytest.mark.parametrize("val_folder", ["val", "valid", "validation", "VAL"])
def test_train_val_folders_keep_their_split(db_services: Services, tmp_path: Path, val_folder: str) -> None:
    files = {
        **class_files({"wool": 4, "cotton": 3}, prefix="train/"),
        **class_files({"wool": 2, "cotton": 1}, prefix=f"{val_folder}/", start=10),
    }
    data = imported(db_services, tmp_path, files)
    assert data["splits"] == {"train": {"cotton": 3, "wool": 4}, "val": {"cotton": 1, "wool": 2}}
    assert data["report"]["layout"] == "train/val folders"
    assert data["report"]["split"] == {"from_source": 10, "assigned": 0, "val_ratio": 0.3, "seed": 0}


def test_wrapped_split_folders_with_test_and_nested_folders(db_services: Services, tmp_path: Path) -> None:
    data = imported(db_services, tmp_path, files := example_files("split-folders.zip"))
    assert data["report"]["top_folder"] == "fabrics"
    assert data["splits"] == {
        "train": {"cotton": 3, "wool": 4},
        "val": {"cotton": 2, "wool": 1},
        "test": {"cotton": 1, "wool": 2},
    }
    samples = load_samples(db_services, data["id"])
    assert samples.classes == ["cotton", "wool"]
    assert {split: len(pairs) for split, pairs in samples.samples.items()} == {
        "train": 7,
        "val": 3,
        "test": 3,
    }
    nested = [path for path, label in samples.samples["train"] if path.parent.name == "closeups"]
    assert len(nested) == 1 and nested[0].is_file()
    assert nested[0].read_bytes() == files["fabrics/train/wool/closeups/wool_99.jpg"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {**class_files({"wool": 2}, prefix="train/"), **class_files({"wool": 2, "silk": 2})},
            "mixed layout: split folders (train/) next to other folders (silk/, wool/)",
        ),
        (
            {
                **class_files({"wool": 2, "silk": 2}, prefix="train/"),
                **class_files({"wool": 2, "silk": 2}, prefix="val/", start=10),
                **class_files({"wool": 1, "silk": 1}, prefix="valid/"),
            },
            "ambiguous layout: val/, valid/ all name the val split",
        ),
        (class_files({"wool": 2, "silk": 2}, prefix="train/"), "split layout without val/"),
        ({"a.jpg": jpeg("wool"), "b.jpg": jpeg("silk")}, "no class folders found"),
        ({}, "the zip holds no files"),
        ({".DS_Store": b"x", "__MACOSX/wool/._a.jpg": b"x"}, "the zip holds no files"),
    ],
    ids=["mixed", "two-val-folders", "no-val", "flat", "empty", "only-junk"],
)
def test_unclear_layouts_are_refused(
    db_services: Services, tmp_path: Path, files: dict, message: str
) -> None:
    with pytest.raises(ImportRefused, match=re.escape(message)):
        imported(db_services, tmp_path, files)
    assert leftovers(db_services) == (0, [], [])
