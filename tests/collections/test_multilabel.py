"""Multi-label collections from zips: labels.csv (with and without header, split column, split folders),
identical files in several class folders, the iterative split and the doctor's label statistics."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cvat_bridge.ingest.multilabel import doctor_report, iterative_split, split_labels
from cvat_bridge.ingest.store import ImportRefused, collection_to_dict, load_samples
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.services import Services
from tests.collections.zips import jpeg, write_zip


def imported(services: Services, tmp_path: Path, files: dict[str, bytes], **options) -> dict:
    collection = import_zip(services, write_zip(tmp_path / "upload.zip", files), name="ml", **options)
    return collection_to_dict(collection)


def test_labels_csv_with_header_gives_labels_and_split_column(db_services: Services, tmp_path: Path) -> None:
    rows = ["path,labels,split"]
    files: dict[str, bytes] = {}
    plan = [("a", "outdoor;night", "train"), ("b", "outdoor", "train"), ("c", "night|wet", "val"),
            ("d", "outdoor; wet ;night", "val"), ("e", "wet", "train")]  # fmt: skip
    for name, labels, split in plan:
        files[f"Photos/img/{name}.jpg"] = jpeg(name)
        rows.append(f"img/{name}.jpg,{labels},{split}")
    files["Photos/img/unlisted.jpg"] = jpeg("unlisted")
    files["Photos/labels.csv"] = "\n".join(rows).encode()
    data = imported(db_services, tmp_path, files)
    assert data["mode"] == "multi" and data["classes"] == ["night", "outdoor", "wet"]
    assert data["num_images"] == 5
    assert data["splits"] == {
        "train": {"night": 1, "outdoor": 2, "wet": 1},
        "val": {"night": 2, "outdoor": 1, "wet": 2},
    }
    assert data["report"]["layout"] == "labels.csv"
    assert data["report"]["skipped_by_kind"] == {"not_in_labels_csv": 1}
    assert data["report"]["multilabel"] == {
        "cardinality": 1.8,
        "images_per_label_count": {"1": 2, "2": 2, "3": 1},
        "per_label": {"night": 3, "outdoor": 3, "wet": 3},
        "labels_not_in_val": [],
    }
    samples = load_samples(db_services, data["id"]).samples
    assert sorted(labels for _, labels in samples["val"]) == [("night", "outdoor", "wet"), ("night", "wet")]


def test_labels_csv_without_header_and_split_folders(db_services: Services, tmp_path: Path) -> None:
    files = {f"{split}/{i}.jpg": jpeg(split, i) for split in ("train", "val") for i in range(3)}
    files["labels.csv"] = (
        b"train/0.jpg,cat\ntrain/1.jpg,cat;dog\ntrain/2.jpg,dog\nval/0.jpg,dog\nval/1.jpg,dog\nval/2.jpg,dog"
    )
    data = imported(db_services, tmp_path, files)
    assert data["splits"] == {"train": {"cat": 2, "dog": 2}, "val": {"cat": 0, "dog": 3}}
    assert data["report"]["split"]["from_source"] == 6
    assert data["report"]["multilabel"]["labels_not_in_val"] == ["cat"]


def test_identical_files_in_several_class_folders_are_one_image(
    db_services: Services, tmp_path: Path
) -> None:
    files = {f"{label}/{label}_{i}.jpg": jpeg(label, i) for label in ("cat", "dog", "sofa") for i in range(6)}
    both = [jpeg("both", i) for i in range(4)]
    for i, data in enumerate(both):
        files[f"cat/shared_{i}.jpg"] = data
        files[f"sofa/copy_{i}.jpg"] = data
    files["dog/all3.jpg"] = files["cat/all3.jpg"] = files["sofa/all3.jpg"] = jpeg("all3")
    data = imported(db_services, tmp_path, files, mode="multi")
    assert data["mode"] == "multi" and data["num_images"] == 18 + 4 + 1
    assert data["report"]["identical_file_groups"] == 5
    groups = sorted((g["count"], tuple(g["labels"])) for g in data["report"]["identical_files_merged"])
    assert groups == [(2, ("cat", "sofa"))] * 4 + [(3, ("cat", "dog", "sofa"))]
    counts = {label: sum(data["splits"][s][label] for s in ("train", "val")) for label in data["classes"]}
    assert counts == {"cat": 11, "dog": 7, "sofa": 11}
    assert data["report"]["leakage_groups"] == 0
    stored = [p for p in db_services.storage.collection_dir(data["id"]).rglob("*.jpg")]
    assert len(stored) == 23  # the merged copies are not kept


def test_the_same_folders_in_single_mode_stay_single_label(db_services: Services, tmp_path: Path) -> None:
    files = {f"{label}/{label}_{i}.jpg": jpeg(label, i) for label in ("cat", "dog") for i in range(4)}
    data = imported(db_services, tmp_path, files)
    assert data["mode"] == "single" and "multilabel" not in data["report"]


def test_bad_labels_csv_is_refused(db_services: Services, tmp_path: Path) -> None:
    files = {"a.jpg": jpeg("a"), "labels.csv": b"path,labels,split\na.jpg,cat,holdout\n"}
    with pytest.raises(ImportRefused, match="line 2: split 'holdout'"):
        imported(db_services, tmp_path, files)
    with pytest.raises(ImportRefused, match="mode must be one of"):
        imported(db_services, tmp_path, {"a/a.jpg": jpeg("a")}, mode="several")


def test_split_labels_accepts_both_separators() -> None:
    assert split_labels(" night | outdoor;night; ") == ("night", "outdoor")


def _dataset(n: int, seed: int) -> list[tuple[str, tuple[str, ...]]]:
    rng = random.Random(seed)
    vocabulary = ["common", "frequent", "medium", "rare", "scarce"]
    weights = [0.8, 0.5, 0.3, 0.08, 0.04]
    return [
        (
            f"img{i:04d}",
            tuple(label for label, w in zip(vocabulary, weights, strict=True) if rng.random() < w),
        )
        for i in range(n)
    ]


def test_iterative_split_keeps_each_label_near_the_ratio() -> None:
    items = _dataset(600, seed=1)
    assignment = iterative_split(items, 0.3, seed=0)
    for label in ("common", "frequent", "medium", "rare", "scarce"):
        carrying = [key for key, labels in items if label in labels]
        in_val = sum(assignment[key] == "val" for key in carrying)
        assert abs(in_val - 0.3 * len(carrying)) <= 1.5, (label, in_val, len(carrying))
    assert abs(sum(side == "val" for side in assignment.values()) - 180) <= 2


def test_iterative_split_is_seeded_and_order_free_and_keeps_groups_together() -> None:
    items = _dataset(200, seed=2)
    groups = {"img0001": "g", "img0002": "g", "img0003": "g"}
    first = iterative_split(items, 0.3, seed=5, groups=groups)
    assert iterative_split(list(reversed(items)), 0.3, seed=5, groups=groups) == first
    assert iterative_split(items, 0.3, seed=6, groups=groups) != first
    assert len({first[key] for key in groups}) == 1


def test_doctor_report_names_labels_never_in_val() -> None:
    images = [("train", ("a", "b")), ("train", ("c",)), ("val", ("a",))]
    report = doctor_report(images, ["a", "b", "c"])
    assert report["labels_not_in_val"] == ["b", "c"] and report["cardinality"] == round(4 / 3, 4)
