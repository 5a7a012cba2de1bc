"""Multi-label zips: a ``labels.csv`` beside the images (``path,labels[,split]``), or identical files in
several class folders (one image carrying every folder's label)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cvat_bridge.ingest.layout import SPLIT_FOLDERS, Assignment, Layout
from cvat_bridge.ingest.multilabel import split_labels
from cvat_bridge.ingest.store import ImportedImage, ImportRefused
from cvat_bridge.limits import MAX_GROUP_PATHS, MAX_REPORT_ITEMS

LABELS_CSV = "labels.csv"
LABELS_CSV_LAYOUT = "labels.csv"
MAX_CSV_BYTES = 64 * 1024**2


def find_labels_csv(paths: list[str]) -> str | None:
    """The zip's ``labels.csv``: at the top or in the one folder wrapping everything; None without one."""
    found = [
        path for path in paths if PurePosixPath(path).name.lower() == LABELS_CSV and path.count("/") <= 1
    ]
    if len(found) > 1:
        raise ImportRefused(f"several {LABELS_CSV} files ({', '.join(sorted(found))}); keep one")
    return found[0] if found else None


@dataclass(frozen=True)
class CsvRow:
    labels: tuple[str, ...]  # sorted, distinct
    split: str | None


def read_labels_csv(data: bytes, base: str = "") -> dict[str, CsvRow]:
    """``path,labels[,split]`` rows (header optional) -> {zip path: CsvRow}; ``base`` prefixes each path
    (the folder wrapping the csv). A ``split`` column (train/val/test) gives the split."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(f"{LABELS_CSV} is not UTF-8 text") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    has_header = bool(rows) and [cell.strip().lower() for cell in rows[0][:2]] == ["path", "labels"]
    header = [cell.strip().lower() for cell in rows[0]] if has_header else ["path", "labels", "split"]
    split_column = header.index("split") if "split" in header else None
    result: dict[str, CsvRow] = {}
    for number, row in enumerate(rows[1:] if has_header else rows, 2 if has_header else 1):
        if len(row) < 2:
            raise ImportRefused(f"{LABELS_CSV} line {number}: expected path,labels; got {','.join(row)!r}")
        path = row[0].strip().replace("\\", "/").removeprefix("./")
        split = None
        if split_column is not None and len(row) > split_column and row[split_column].strip():
            split = SPLIT_FOLDERS.get(row[split_column].strip().lower())
            if split is None:
                raise ImportRefused(
                    f"{LABELS_CSV} line {number}: split {row[split_column]!r} is not train, val or test"
                )
        result[f"{base}{path}"] = CsvRow(split_labels(row[1]), split)
    if not result:
        raise ImportRefused(f"{LABELS_CSV} lists no images")
    return result


def csv_layout(paths: list[str], csv_path: str, rows: dict[str, CsvRow]) -> Layout:
    """Assignments of the listed files (labels and split from the csv; a split folder ``train/``, ``val/``
    or ``test/`` at the top of a path gives the split when the csv has none); other files are outside."""
    top_folder = csv_path.rsplit("/", 1)[0] if "/" in csv_path else None
    layout = Layout(kind=LABELS_CSV_LAYOUT, top_folder=top_folder)
    prefix = f"{top_folder}/" if top_folder else ""
    for path in paths:
        if path == csv_path:
            continue
        row = rows.get(path)
        if row is None or not row.labels:
            layout.outside.append(path)
            continue
        first = path.removeprefix(prefix).split("/", 1)[0].lower()
        split = row.split or (SPLIT_FOLDERS.get(first) if "/" in path.removeprefix(prefix) else None)
        layout.assignments[path] = Assignment(split, row.labels[0], row.labels)
    if not layout.assignments:
        raise ImportRefused(
            f"{LABELS_CSV} names none of the zip's files with a label (paths relative to the zip)"
        )
    return layout


def merge_identical(images: list[ImportedImage], staging: Path) -> tuple[list[ImportedImage], dict]:
    """Identical files (same bytes) of one split in several class folders -> one image with every folder's
    label (the first path kept, the others' staged copies removed); the report lists the merged groups."""
    groups: dict[tuple[str | None, str], list[ImportedImage]] = defaultdict(list)
    for image in images:
        groups[(image.split, image.sha256)].append(image)
    merged, report = [], []
    for group in groups.values():
        labels = tuple(sorted({label for image in group for label in image.labels or (image.label,)}))
        keep = group[0]
        merged.append(dataclasses.replace(keep, label=labels[0], labels=labels))
        if len(group) > 1:
            for image in group[1:]:
                (staging / image.path).unlink(missing_ok=True)
            paths = [image.path for image in group]
            report.append(
                {
                    "sha256": keep.sha256,
                    "labels": list(labels),
                    "count": len(group),
                    "paths": paths[:MAX_GROUP_PATHS],
                }
            )
    return merged, {"identical_files_merged": report[:MAX_REPORT_ITEMS], "identical_file_groups": len(report)}
