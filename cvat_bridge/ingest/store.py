"""Registering a collection: split, duplicate/leakage report, one transaction, then the files go live.

Every source of collections (zip uploads, CVAT tasks) stages its files in a staging folder and calls
``register_collection``. A collection becomes visible only when its rows are committed, and its staging
folder is renamed into ``collections/<id>/`` inside that same transaction, so a failure or crash never
leaves a half collection visible; a failure removes the staging folder and the rows.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cvat_bridge.db import Collection, Image, Job, Model, iso_utc
from cvat_bridge.errors import Conflict, Invalid, NotFound
from cvat_bridge.ingest.multilabel import MULTI, SINGLE, doctor_report, iterative_split, label_counts
from cvat_bridge.ingest.split import SPLITS, TRAIN, VAL, check_val_ratio, stratified_split
from cvat_bridge.jobs.store import TERMINAL_STATES
from cvat_bridge.limits import MAX_GROUP_PATHS, MAX_REPORT_ITEMS, name_problem
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage

INSERT_BATCH = 1000
_PUBLISH_ATTEMPTS = 3  # two imports of one name may race for the next version number


class ImportRefused(Invalid):
    """The data cannot become a collection; the message tells the user why and what to change."""


class CollectionNotFound(NotFound):
    """No collection has this id."""


@dataclass(frozen=True, slots=True)
class ImportedImage:
    """One staged image file and what the source says about it."""

    path: str  # file path relative to staging_dir, forward slashes
    label: str
    split: str | None  # "train" | "val" | "test", or None: split by register_collection
    sha256: str
    width: int
    height: int
    provenance: dict | None = None  # e.g. CVAT server/task/frame
    labels: tuple[str, ...] | None = None  # multi-label collections: every label (sorted); label = labels[0]


@dataclass
class CollectionSamples:
    """A collection's classes and its image files per split, ready for a data loader."""

    classes: list[str]  # sorted
    samples: dict[str, list[tuple[Path, Any]]]  # split -> [(absolute file path, label | tuple of labels)]
    mode: str = SINGLE


def register_collection(
    services: Services,
    *,
    name: str,
    source: str,
    staging_dir: Path,
    images: list[ImportedImage],
    report: dict,
    provenance: dict,
    val_ratio: float = 0.3,
    seed: int = 0,
    mode: str = SINGLE,
) -> Collection:
    """Split the unsplit images (stratified, deterministic; iteratively in ``mode="multi"``), find
    duplicates/leakage into the report, insert rows in ONE transaction (version = previous max for that name
    + 1), move staging_dir to the collection dir. On any failure nothing is left (no rows, no files). Raise
    ImportRefused(msg) for bad data."""
    try:
        name = check_options(name, val_ratio)
        classes = _check_classes(images)
        for image in images:
            _check_image_entry(image)
        given = sum(1 for image in images if image.split is not None)
        images = _assign_splits(images, val_ratio, seed, mode)
        split_info = {
            "from_source": given,
            "assigned": len(images) - given,
            "val_ratio": val_ratio,
            "seed": seed,
        }
        if mode == MULTI:
            report = {**report, "multilabel": doctor_report(_label_sets(images), classes)}
        columns = {
            "name": name,
            "source": source,
            "mode": mode,
            "classes": classes,
            "num_images": len(images),
            "splits": split_counts(images, classes),
            "report": {**report, "split": split_info, **duplicates_report(images)},
            "provenance": provenance,
        }
        return _publish(services, columns, images, staging_dir)
    except BaseException:
        Storage.remove(staging_dir)
        raise


def collection_to_dict(collection: Collection) -> dict[str, Any]:
    """The public JSON of a collection."""
    return {
        "id": collection.id,
        "name": collection.name,
        "version": collection.version,
        "source": collection.source,
        "mode": collection.mode,
        "num_images": collection.num_images,
        "classes": list(collection.classes),
        "splits": collection.splits,
        "report": collection.report,
        "provenance": collection.provenance,
        "created_at": iso_utc(collection.created_at),
    }


def list_collections(services: Services) -> list[Collection]:
    """Every registered collection, newest first."""
    with services.db.session() as session:
        return list(session.scalars(select(Collection).order_by(Collection.id.desc())))


def get_collection(services: Services, collection_id: int) -> Collection:
    return services.db.get(
        Collection, collection_id, CollectionNotFound(f"no collection with id {collection_id}")
    )


class CollectionInUse(Conflict):
    """A queued or running training reads the collection; the message names its models."""


def delete_collection(services: Services, collection_id: int) -> None:
    """Remove a collection's rows and files; CollectionInUse while a queued or running training uses it
    (finished models keep their own files and stay servable). Its folder leaves ``collections/`` before the
    rows go, so a crash in between leaves no rows pointing at a missing folder."""
    storage = services.storage
    trash = storage.new_staging_dir(f"deleted-{collection_id}-")
    folder = storage.collection_dir(collection_id)
    moved = False
    try:
        with services.db.session() as session:
            collection = session.get(Collection, collection_id)
            if collection is None:
                raise CollectionNotFound(f"no collection with id {collection_id}")
            _check_unused(session, collection_id)
            session.delete(collection)
            session.flush()
            if folder.exists():
                folder.rename(trash / "files")
                moved = True
    except BaseException:
        if moved:
            (trash / "files").rename(folder)
        raise
    finally:
        Storage.remove(trash)


def _check_unused(session: Session, collection_id: int) -> None:
    """CollectionInUse when a queued or running training uses the collection (one started in the same
    instant may still lose it: that training then fails with a message naming the deleted collection)."""
    training = session.execute(
        select(Model.id, Model.name, Model.version)
        .join(Job, Model.job_id == Job.id)
        .where(Model.collection_id == collection_id, Job.status.not_in(TERMINAL_STATES))
        .order_by(Model.id)
    ).all()
    if training:
        names = ", ".join(f"{name} v{version} (#{model_id})" for model_id, name, version in training)
        raise CollectionInUse(
            f"collection {collection_id} is used by trainings not yet finished: {names}; wait for them or "
            "cancel them, then delete the collection"
        )


def load_samples(services: Services, collection_id: int) -> CollectionSamples:
    """The stored split of a collection as absolute file paths and labels."""
    collection = get_collection(services, collection_id)
    root = services.storage.collection_dir(collection_id)
    samples: dict[str, list[tuple[Path, Any]]] = {TRAIN: [], VAL: []}  # "test" only when it has images
    multi = collection.mode == MULTI
    with services.db.session() as session:
        rows = session.execute(
            select(Image.split, Image.path, Image.label, Image.labels)
            .where(Image.collection_id == collection_id)
            .order_by(Image.id)
        )
        for split, path, label, labels in rows:
            samples.setdefault(split, []).append((root / path, tuple(labels) if multi else label))
    return CollectionSamples(classes=sorted(collection.classes), samples=samples, mode=collection.mode)


def split_counts(images: list[ImportedImage], classes: list[str]) -> dict[str, dict[str, int]]:
    """``{"train": {class: n}, "val": {...}}`` with every class listed (multi-label: images carrying the
    label); "test" only when it has images."""
    if any(image.labels is not None for image in images):
        return label_counts(_label_sets(images), classes)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for image in images:
        counts[image.split][image.label] += 1
    present = [split for split in SPLITS if split in (TRAIN, VAL) or counts.get(split)]
    return {split: {label: counts[split][label] for label in classes} for split in present}


def duplicates_report(images: list[ImportedImage]) -> dict[str, Any]:
    """Exact duplicates (same sha256), those spread over several splits (leakage), and those with
    different labels. Each group lists its first ``MAX_GROUP_PATHS`` paths and its ``count`` of files."""
    groups: dict[str, list[ImportedImage]] = defaultdict(list)
    for image in images:
        groups[image.sha256].append(image)
    duplicates, leakage, conflicts = [], [], []
    for digest, group in sorted(groups.items()):
        if len(group) < 2:
            continue
        paths = [image.path for image in group]
        entry = {"sha256": digest, "count": len(group), "paths": paths[:MAX_GROUP_PATHS]}
        duplicates.append(entry)
        splits = sorted({image.split for image in group})
        if len(splits) > 1:
            leakage.append({**entry, "splits": splits})
        labels = sorted({image.label for image in group})
        if len(labels) > 1:
            conflicts.append({**entry, "labels": labels})
    return {
        "duplicates": duplicates[:MAX_REPORT_ITEMS],
        "duplicate_groups": len(duplicates),
        "leakage": leakage[:MAX_REPORT_ITEMS],
        "leakage_groups": len(leakage),
        "label_conflicts": conflicts[:MAX_REPORT_ITEMS],
        "label_conflict_groups": len(conflicts),
    }


def check_options(name: str, val_ratio: float) -> str:
    """The collection name, stripped; ImportRefused if it or the ratio can't be used (sources call this
    before their slow work, register_collection again)."""
    name = (name or "").strip()
    if not name:
        raise ImportRefused("give the collection a name")
    if problem := name_problem(name):
        raise ImportRefused(f"the collection name is {problem}")
    try:
        check_val_ratio(val_ratio)
    except ValueError as exc:
        raise ImportRefused(str(exc)) from None
    return name


def _label_sets(images: list[ImportedImage]) -> list[tuple[str, tuple[str, ...]]]:
    return [(image.split, image.labels or (image.label,)) for image in images]


def _check_classes(images: list[ImportedImage]) -> list[str]:
    classes = sorted({label for image in images for label in image.labels or (image.label,)})
    unusable = [(label, problem) for label in classes if (problem := name_problem(label))]
    if unusable:
        listed = "; ".join(f"{label!r} is {problem}" for label, problem in unusable[:5])
        raise ImportRefused(f"class names that cannot be stored: {listed}; rename those class folders")
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise ImportRefused(f"a collection needs at least 2 classes with valid images; found {found}")
    by_folded: dict[str, list[str]] = defaultdict(list)
    for label in classes:
        by_folded[label.casefold()].append(label)
    clashes = [names for names in by_folded.values() if len(names) > 1]
    if clashes:
        listed = "; ".join(" vs ".join(repr(n) for n in names) for names in clashes)
        raise ImportRefused(f"class names that differ only by case: {listed}; rename or merge them")
    return classes


def _check_image_entry(image: ImportedImage) -> None:
    path = PurePosixPath(image.path)
    if path.is_absolute() or ".." in path.parts or "\\" in image.path:
        raise ValueError(f"image path must be relative to the staging folder: {image.path!r}")
    if image.split is not None and image.split not in SPLITS:
        raise ValueError(f"unknown split {image.split!r} for {image.path!r}")


def _assign_splits(
    images: list[ImportedImage], val_ratio: float, seed: int, mode: str
) -> list[ImportedImage]:
    unsplit = [(image.path, image.labels or (image.label,)) for image in images if image.split is None]
    if not unsplit:
        return images
    same_content = {image.path: image.sha256 for image in images}
    if mode == MULTI:
        assignment = iterative_split(unsplit, val_ratio, seed, groups=same_content)
    else:
        single = [(path, labels[0]) for path, labels in unsplit]
        assignment = stratified_split(single, val_ratio, seed, groups=same_content)
    return [
        image if image.split is not None else dataclasses.replace(image, split=assignment[image.path])
        for image in images
    ]


def _publish(
    services: Services, columns: dict[str, Any], images: list[ImportedImage], staging_dir: Path
) -> Collection:
    """Insert the rows and move the files in one transaction; retry if another import took the version."""
    storage = services.storage
    for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
        target: Path | None = None
        try:
            with services.db.session() as session:
                latest = session.scalar(
                    select(func.max(Collection.version)).where(Collection.name == columns["name"])
                )
                collection = Collection(**columns, version=(latest or 0) + 1)
                session.add(collection)
                session.flush()
                for start in range(0, len(images), INSERT_BATCH):
                    batch = images[start : start + INSERT_BATCH]
                    session.execute(insert(Image), [_image_row(collection.id, image) for image in batch])
                target = storage.collection_dir(collection.id)
                Storage.remove(target)  # left by a crash between a rename and its commit: no row owns it
                staging_dir.rename(target)
            return collection
        except IntegrityError:
            if target is not None and target.exists():
                target.rename(staging_dir)
            if attempt == _PUBLISH_ATTEMPTS:
                raise
        except BaseException:
            if target is not None:
                Storage.remove(target)
            raise
    raise AssertionError("unreachable")


def _image_row(collection_id: int, image: ImportedImage) -> dict[str, Any]:
    return {
        "collection_id": collection_id,
        "split": image.split,
        "label": image.label,
        "path": image.path,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "provenance": image.provenance,
        "labels": list(image.labels) if image.labels is not None else None,
    }
