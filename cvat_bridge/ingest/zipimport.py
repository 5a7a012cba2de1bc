"""Zip file -> registered collection: check the archive, read its layout, extract and examine each file
straight into a staging folder (hashing as it streams), then register what is valid.

Extraction, hashing and image checks run in a few threads (zlib, hashlib and file I/O release the GIL);
each file streams in 1 MiB chunks and only a few files are in flight, so memory stays flat however large
the zip.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvat_bridge.db import Collection
from cvat_bridge.ingest.archive import ArchiveLimits, Member, checked_members, open_archive
from cvat_bridge.ingest.doctor import ImageFacts, Skipped, inspect_image, junk_reason, name_reason
from cvat_bridge.ingest.layout import Assignment, Layout, detect_layout
from cvat_bridge.ingest.multilabel import MODES, MULTI, SINGLE
from cvat_bridge.ingest.multizip import (
    LABELS_CSV_LAYOUT,
    MAX_CSV_BYTES,
    csv_layout,
    find_labels_csv,
    merge_identical,
    read_labels_csv,
)
from cvat_bridge.ingest.store import (
    ImportedImage,
    ImportRefused,
    check_options,
    register_collection,
)
from cvat_bridge.limits import MAX_REPORT_ITEMS
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage
from cvat_bridge.thumbnails import MAX_SKIPPED_BYTES, MAX_SKIPPED_THUMBNAILS, keep_skipped_thumbnail

CHUNK = 1024**2
MAX_WORKERS = 4
IN_FLIGHT_PER_WORKER = 4
Progress = Callable[[int, int], None]  # (files examined, files to examine)


@dataclass(frozen=True)
class _Examined:
    member: Member
    sha256: str | None = None
    facts: ImageFacts | None = None
    skipped: Skipped | None = None


def import_zip(
    services: Services,
    zip_path: Path,
    *,
    name: str,
    val_ratio: float = 0.3,
    seed: int = 0,
    filename: str | None = None,
    progress: Progress | None = None,
    mode: str | None = None,
) -> Collection:
    """Register the zip's images as a new collection (version n+1 of ``name``); ImportRefused if it can't be.

    ``mode``: "single", "multi", or None: "multi" when the zip holds a ``labels.csv``. Multi-label class
    folders: identical files in several folders become one image with each folder's label.
    ``filename`` is the name the user gave the upload (kept in the provenance)."""
    check_options(name, val_ratio)
    if mode is not None and mode not in MODES:
        raise ImportRefused(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    staging = services.storage.new_staging_dir("zip-")
    try:
        with open_archive(zip_path) as archive:
            members = checked_members(archive, ArchiveLimits.from_settings(services.settings))
            layout, to_examine, skipped = _sort_out(archive, members, mode)
            mode = MULTI if layout.kind == LABELS_CSV_LAYOUT else (mode or SINGLE)
            images, formats = [], Counter()
            max_pixels = services.settings.max_image_pixels
            # closing(): the threads have stopped before anything below (or the cleanup) touches staging
            with closing(_examine_all(services, archive, to_examine, staging)) as results:
                for done, result in enumerate(results, 1):
                    if result.skipped is not None:
                        source = staging / result.member.path
                        if source.is_file():
                            size = source.stat().st_size
                            keep_skipped_thumbnail(staging, len(skipped), source, size, max_pixels)
                        source.unlink(missing_ok=True)
                        skipped.append(_skip(result.member.path, result.skipped.kind, result.skipped.reason))
                    else:
                        images.append(_imported(result, layout.assignments[result.member.path]))
                        formats[f"{result.facts.format} {result.facts.mode}"] += 1
                    if progress:
                        progress(done, len(to_examine))
            _keep_outside_thumbnails(archive, members, skipped, staging, max_pixels)
        _check_every_class_has_images(layout, images)
        merged = {}
        if mode == MULTI and layout.kind != LABELS_CSV_LAYOUT:
            images, merged = merge_identical(images, staging)
        report = {**_report(layout, len(members), skipped, formats, images), **merged}
        provenance = {"file": filename or zip_path.name, "bytes": zip_path.stat().st_size}
        return register_collection(
            services,
            name=name,
            source="zip",
            staging_dir=staging,
            images=images,
            report=report,
            provenance=provenance,
            val_ratio=val_ratio,
            seed=seed,
            mode=mode,
        )
    except BaseException:
        Storage.remove(staging)
        raise


def _sort_out(
    archive: zipfile.ZipFile, members: list[Member], mode: str | None
) -> tuple[Layout, list[Member], list[dict[str, str]]]:
    """The layout, the members to examine, and the skipped ones (junk, outside class folders or not in
    ``labels.csv``)."""
    skipped, kept = [], []
    for member in members:
        if reason := junk_reason(member.path):
            skipped.append(_skip(member.path, "junk", reason))
        elif reason := name_reason(member.path):
            skipped.append(_skip(member.path, "name_too_long", reason))
        else:
            kept.append(member)
    paths = [member.path for member in kept]
    csv_path = find_labels_csv(paths) if mode != SINGLE else None
    if csv_path is None:
        layout = detect_layout(paths)
        skipped += [
            _skip(path, "outside_class_folder", "not inside a class folder") for path in layout.outside
        ]
    else:
        csv_member = next(member for member in kept if member.path == csv_path)
        if csv_member.info.file_size > MAX_CSV_BYTES:
            raise ImportRefused(f"{csv_path} is larger than {MAX_CSV_BYTES} bytes")
        base = csv_path.rsplit("/", 1)[0] + "/" if "/" in csv_path else ""
        layout = csv_layout(paths, csv_path, read_labels_csv(archive.read(csv_member.info), base))
        skipped += [
            _skip(path, "not_in_labels_csv", f"no labels for it in {csv_path}") for path in layout.outside
        ]
    return layout, [member for member in kept if member.path in layout.assignments], skipped


def _keep_outside_thumbnails(
    archive: zipfile.ZipFile,
    members: list[Member],
    skipped: list[dict[str, str]],
    staging: Path,
    max_pixels: int,
) -> None:
    """Thumbnails of the pictures outside the class folders (never extracted), read from the zip."""
    by_path = {member.path: member for member in members}
    for index, item in enumerate(skipped[:MAX_SKIPPED_THUMBNAILS]):
        member = by_path.get(item["path"]) if item["kind"] == "outside_class_folder" else None
        if member is not None and member.info.file_size <= MAX_SKIPPED_BYTES:
            try:
                with archive.open(member.info) as source:
                    keep_skipped_thumbnail(staging, index, source, member.info.file_size, max_pixels)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
                pass  # damaged: no picture; the file was skipped anyway


def _skip(path: str, kind: str, reason: str) -> dict[str, str]:
    return {"path": path, "kind": kind, "reason": reason}


def _imported(result: _Examined, assignment: Assignment) -> ImportedImage:
    return ImportedImage(
        path=result.member.path,
        label=assignment.label,
        labels=assignment.labels,
        split=assignment.split,
        sha256=result.sha256,
        width=result.facts.width,
        height=result.facts.height,
    )


def _examine_all(
    services: Services, archive: zipfile.ZipFile, members: list[Member], staging: Path
) -> Iterator[_Examined]:
    """Examine the members in a thread pool, in order, a few at a time (memory does not grow with the zip).

    The threads share the archive: reads of its members are thread-safe (each has its own position,
    under the archive's lock); opening and closing a member change shared counters, so ``lock`` guards them.
    """
    workers = min(MAX_WORKERS, os.cpu_count() or 1)
    lock = threading.Lock()
    max_pixels = services.settings.max_image_pixels
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zip-import")
    pending: deque[Future[_Examined]] = deque()
    try:
        for member in members:
            pending.append(pool.submit(_examine, archive, lock, member, staging, max_pixels))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def _examine(
    archive: zipfile.ZipFile, lock: threading.Lock, member: Member, staging: Path, max_pixels: int
) -> _Examined:
    """Extract one member into staging while hashing it, then let the doctor judge the file."""
    target = staging / member.path
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with lock:
            source = archive.open(member.info)
        try:
            with open(target, "wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        finally:
            with lock:
                source.close()
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        return _Examined(member, skipped=Skipped("corrupt", f"damaged inside the zip ({exc})"))
    except NotImplementedError as exc:
        return _Examined(member, skipped=Skipped("unsupported_format", f"cannot unpack: {exc}"))
    try:
        facts = inspect_image(target, max_pixels, member.path)
    except Skipped as skipped:
        return _Examined(member, skipped=skipped)
    return _Examined(member, sha256=digest.hexdigest(), facts=facts)


def _check_every_class_has_images(layout: Layout, images: list[ImportedImage]) -> None:
    with_images = {image.label for image in images}
    empty = [label for label in sorted(layout.class_folders) if label not in with_images]
    if empty:
        folders = ", ".join(folder for label in empty for folder in layout.class_folders[label])
        raise ImportRefused(
            f"no valid image in {folders}: add images to that class or remove its folder "
            "(see the skipped files in the report for why each file was left out)"
        )


def _report(
    layout: Layout,
    num_files: int,
    skipped: list[dict[str, str]],
    formats: Counter,
    images: list[ImportedImage],
) -> dict[str, Any]:
    per_split: dict[str, set[str]] = {}
    for image in images:
        if image.split:
            per_split.setdefault(image.split, set()).update(image.labels or (image.label,))
    classes = sorted({label for image in images for label in image.labels or (image.label,)})
    warnings = [
        f"class {label!r} has no images in {split}/"
        for split, labels in sorted(per_split.items())
        for label in classes
        if label not in labels and split != "test"
    ]
    return {
        "layout": layout.kind,
        "top_folder": layout.top_folder,
        "files_in_zip": num_files,
        "images": len(images),
        "skipped_total": len(skipped),
        "skipped_by_kind": dict(Counter(item["kind"] for item in skipped)),
        "skipped": skipped[:MAX_REPORT_ITEMS],
        "formats": dict(sorted(formats.items())),
        "warnings": warnings,
    }
