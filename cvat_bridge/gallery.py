"""What the pages show as pictures: a collection's images a page at a time, the files of its import report,
and a model's validation predictions (predictions.json) filtered by confusion-matrix cell or as mistakes.

Plain functions over the database and the data dir; the routes (api/images.py) add thumbnail URLs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from cvat_bridge.db import Collection, Image
from cvat_bridge.errors import NotFound
from cvat_bridge.ingest.store import get_collection
from cvat_bridge.services import Services
from cvat_bridge.thumbnails import skipped_thumbnail
from trainer import artifacts


@dataclass(frozen=True)
class ImageRow:
    id: int
    path: str
    label: str
    split: str
    width: int
    height: int


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[Any]


def image_page(
    services: Services, collection_id: int, *, split: str | None, label: str | None, offset: int, limit: int
) -> Page:
    """One page of a collection's images (in import order), of one split and/or class when given;
    CollectionNotFound when there is no such collection."""
    get_collection(services, collection_id)
    where = [Image.collection_id == collection_id]
    if split:
        where.append(Image.split == split)
    if label:
        where.append(Image.label == label)
    columns = (Image.id, Image.path, Image.label, Image.split, Image.width, Image.height)
    with services.db.session() as session:
        total = session.scalar(select(func.count()).select_from(Image).where(*where)) or 0
        rows = session.execute(select(*columns).where(*where).order_by(Image.id).offset(offset).limit(limit))
        return Page(total, [ImageRow(*row) for row in rows])


def image_ids(services: Services, collection_id: int, paths: list[str]) -> dict[str, int]:
    """The ids of the collection's images with these paths (paths it does not have are left out)."""
    if not paths:
        return {}
    with services.db.session() as session:
        rows = session.execute(
            select(Image.path, Image.id).where(Image.collection_id == collection_id, Image.path.in_(paths))
        )
        return {path: image_id for path, image_id in rows}


def report_files(services: Services, collection: Collection) -> dict[str, Any]:
    """The files the import report lists, ready to be shown: each skipped file with its reason and whether a
    thumbnail was kept at import (``thumbnail_index``), and each duplicate group with its images' ids."""
    report = collection.report or {}
    folder = services.storage.collection_dir(collection.id)
    skipped = [
        {**item, "thumbnail_index": index if skipped_thumbnail(folder, index) else None}
        for index, item in enumerate(report.get("skipped", []))
    ]
    groups = report.get("duplicates", [])
    ids = image_ids(services, collection.id, [path for group in groups for path in group["paths"]])
    duplicates = [
        {**group, "images": [{"path": path, "id": ids.get(path)} for path in group["paths"]]}
        for group in groups
    ]
    return {
        "skipped": skipped,
        "skipped_total": report.get("skipped_total", len(skipped)),
        "duplicates": duplicates,
        "duplicate_groups": report.get("duplicate_groups", len(duplicates)),
    }


class NoPredictions(NotFound):
    """The model has no predictions.json (still training, failed, or trained before it was written)."""


def predictions_page(
    services: Services,
    model_id: int,
    *,
    true: str | None,
    predicted: str | None,
    mistakes: bool,
    offset: int,
    limit: int,
) -> Page:
    """The model's validation predictions of one confusion-matrix cell (true and/or predicted class), or only
    its mistakes, most confident first."""
    path = services.storage.model_dir(model_id) / artifacts.PREDICTIONS
    if not path.is_file():
        raise NoPredictions(f"model {model_id} has no {artifacts.PREDICTIONS} (yet)")
    rows = [
        row
        for row in json.loads(path.read_text())
        if (true is None or row["true"] == true)
        and (predicted is None or row["predicted"] == predicted)
        and (not mistakes or row["true"] != row["predicted"])
    ]
    rows.sort(key=lambda row: -row["confidence"])
    return Page(len(rows), rows[offset : offset + limit])
