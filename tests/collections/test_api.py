"""/api/collections on SQLite and PostgreSQL: create, list, read, versions, split options, delete, crash
safety, and the hymenoptera photos of tests/data with their counts and quirks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cvat_bridge.ingest.store import load_samples
from cvat_bridge.ingest.zipimport import import_zip
from tests.collections.conftest import OpenClient
from tests.collections.zips import class_files, leftovers, upload, write_zip
from tests.conftest import data_path
from tests.helpers.images import zip_tree

HYMENOPTERA = data_path("hymenoptera_data")


@pytest.fixture(scope="module")
def hymenoptera_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hymenoptera")
    return zip_tree(HYMENOPTERA, folder / "hymenoptera_data.zip", prefix="hymenoptera_data/")


def test_create_list_read_and_delete(open_client: OpenClient, tmp_path: Path) -> None:
    services, client = open_client()
    zip_path = write_zip(tmp_path / "fabrics.zip", class_files({"wool": 10, "silk": 4}))
    response = upload(client, zip_path, name="fabrics")
    assert response.status_code == 201, response.text
    created = response.json()
    fields = ("name", "version", "source", "num_images", "classes", "splits")
    assert {key: created[key] for key in fields} == {
        "name": "fabrics",
        "version": 1,
        "source": "zip",
        "num_images": 14,
        "classes": ["silk", "wool"],
        "splits": {"train": {"silk": 3, "wool": 7}, "val": {"silk": 1, "wool": 3}},
    }
    assert created["provenance"]["file"] == "fabrics.zip"
    assert client.get(f"/api/collections/{created['id']}").json() == created
    again = upload(client, zip_path, name="fabrics").json()
    assert (again["version"], again["id"] != created["id"]) == (2, True)
    assert [item["id"] for item in client.get("/api/collections").json()] == [again["id"], created["id"]]

    assert client.delete(f"/api/collections/{created['id']}").status_code == 204
    assert client.get(f"/api/collections/{created['id']}").status_code == 404
    assert client.delete(f"/api/collections/{created['id']}").json() == {
        "detail": f"no collection with id {created['id']}"
    }
    assert not services.storage.collection_dir(created["id"]).exists()
    assert services.storage.collection_dir(again["id"]).is_dir()
    assert leftovers(services) == (1, [str(again["id"])], [])


def test_split_options_are_applied_and_stored(open_client: OpenClient, tmp_path: Path) -> None:
    services, client = open_client()
    zip_path = write_zip(tmp_path / "fabrics.zip", class_files({"wool": 20, "silk": 9}))

    def val_files(**fields: object) -> tuple[dict, set[str]]:
        data = upload(client, zip_path, **fields).json()
        samples = load_samples(services, data["id"]).samples
        return data["splits"]["val"], {path.name for path, _ in samples["val"]}

    counts, first = val_files(val_ratio=0.5, seed=3)
    assert counts == {"silk": 5, "wool": 10}  # 4.5 rounds half up
    assert val_files(val_ratio=0.5, seed=3)[1] == first  # same seed, same split
    assert val_files(val_ratio=0.5, seed=4)[1] != first


def test_same_name_imported_at_once_gets_distinct_versions(open_client: OpenClient, tmp_path: Path) -> None:
    services, _ = open_client()
    zip_path = write_zip(tmp_path / "fabrics.zip", class_files({"wool": 3, "silk": 3}))
    versions, errors = [], []

    def run() -> None:
        try:
            versions.append(import_zip(services, zip_path, name="fabrics").version)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(versions) == [1, 2, 3]
    assert leftovers(services)[0] == 3 and leftovers(services)[2] == []


def test_failure_while_publishing_rolls_everything_back(
    open_client: OpenClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, client = open_client()

    def full_disk(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "rename", full_disk)  # the rows are inserted, then moving the files fails
    with pytest.raises(OSError, match="No space left"):
        import_zip(services, write_zip(tmp_path / "f.zip", class_files({"wool": 3, "silk": 3})), name="f")
    assert leftovers(services) == (0, [], [])


def test_hymenoptera_imports_with_its_real_counts(open_client: OpenClient, hymenoptera_zip: Path) -> None:
    _, client = open_client()
    response = upload(client, hymenoptera_zip, name="hymenoptera")
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["num_images"] == 159  # 40 files per folder, less the GIF
    assert data["splits"] == {"train": {"ants": 39, "bees": 40}, "val": {"ants": 40, "bees": 40}}
    skipped = {item["path"]: item["kind"] for item in data["report"]["skipped"]}
    assert skipped == {
        "hymenoptera_data/train/ants/imageNotFound.gif": "unsupported_format",
        "hymenoptera_data/README.md": "outside_class_folder",
    }
    assert data["report"]["formats"] == {"JPEG RGB": 159}


def test_mode_field_makes_a_multi_label_collection(open_client: OpenClient, tmp_path: Path) -> None:
    _, client = open_client()
    files = class_files({"wool": 6, "silk": 6})
    files["silk/same.jpg"] = files["wool/same.jpg"] = class_files({"both": 1})["both/both_0.jpg"]
    zip_path = write_zip(tmp_path / "fabrics.zip", files)
    data = upload(client, zip_path, mode="multi").json()
    assert data["mode"] == "multi" and data["num_images"] == 13
    assert data["report"]["identical_file_groups"] == 1
    listed = client.get("/api/collections").json()[0]
    assert listed["mode"] == "multi" and listed["report"]["identical_file_groups"] == 1
    refused = upload(client, zip_path, mode="both")
    assert refused.status_code == 422 and "mode must be one of" in refused.json()["detail"]
