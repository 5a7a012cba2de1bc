"""Which folder tree a zip holds, and the class (and split) of each of its files.

Recognised, optionally wrapped in one top folder (``DatasetName/...``):
  class folders at the top:  ``wool/a.jpg``, ``cotton/b.jpg``...
  split folders:             ``train/<class>/...`` + ``val/<class>/...`` (or ``valid/``, ``validation/``),
                             optionally ``test/<class>/...``
Files below a class folder, at any depth, belong to that class. Mixed or ambiguous trees are refused.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from cvat_bridge.ingest.store import ImportRefused

SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
CLASS_FOLDERS, SPLIT_LAYOUT = "class folders", "train/val folders"


@dataclass(frozen=True)
class Assignment:
    split: str | None  # None: the import splits it
    label: str
    labels: tuple[str, ...] | None = None  # multi-label (labels.csv): every label, sorted; label = labels[0]


@dataclass
class Layout:
    kind: str  # CLASS_FOLDERS | SPLIT_LAYOUT
    top_folder: str | None  # the wrapping folder, if any
    assignments: dict[str, Assignment] = field(default_factory=dict)  # file path -> class (and split)
    outside: list[str] = field(default_factory=list)  # files not inside any class folder
    class_folders: dict[str, list[str]] = field(default_factory=dict)  # class -> its folders in the zip


def detect_layout(paths: list[str]) -> Layout:
    """The layout of these file paths (forward slashes, already checked and without junk)."""
    if not paths:
        raise ImportRefused("the zip holds no files (besides system or hidden files)")
    top_folder = _wrapper(paths)
    prefix = f"{top_folder}/" if top_folder else ""
    tree = [path.removeprefix(prefix) if path.startswith(prefix) else None for path in paths]
    folders = sorted({rel.split("/", 1)[0] for rel in tree if rel is not None and "/" in rel})
    if not folders:
        raise ImportRefused(
            "no class folders found: put the images of each class in a folder named after the class"
        )
    split_names = [name for name in folders if name.lower() in SPLIT_FOLDERS]
    if split_names and len(split_names) < len(folders):
        others = [name for name in folders if name.lower() not in SPLIT_FOLDERS]
        raise ImportRefused(
            f"mixed layout: split folders ({_listing(split_names)}) next to other folders "
            f"({_listing(others)}); use either class folders at the top, or train/ and val/ each "
            "holding class folders"
        )
    layout = Layout(kind=SPLIT_LAYOUT if split_names else CLASS_FOLDERS, top_folder=top_folder)
    depth = 2 if split_names else 1
    if split_names:
        _check_split_folders(split_names, prefix)
    folders_of: dict[str, set[str]] = defaultdict(set)
    for path, rel in zip(paths, tree, strict=True):
        parts = rel.split("/") if rel is not None else []
        if len(parts) <= depth:
            layout.outside.append(path)
            continue
        split = SPLIT_FOLDERS[parts[0].lower()] if split_names else None
        label = parts[depth - 1]
        layout.assignments[path] = Assignment(split, label)
        folders_of[label].add(prefix + "/".join(parts[:depth]) + "/")
    layout.class_folders = {label: sorted(found) for label, found in folders_of.items()}
    return layout


def _wrapper(paths: list[str]) -> str | None:
    """The one folder that wraps the whole tree, if the tree is wrapped (``DatasetName/train/...``)."""
    tops = {path.split("/", 1)[0] for path in paths if "/" in path}
    if len(tops) != 1:
        return None
    (top,) = tops
    nested = any(path.count("/") >= 2 for path in paths if path.startswith(f"{top}/"))
    return top if nested and top.lower() not in SPLIT_FOLDERS else None


def _check_split_folders(names: list[str], prefix: str) -> None:
    by_split: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_split[SPLIT_FOLDERS[name.lower()]].append(name)
    for split, found in by_split.items():
        if len(found) > 1:
            raise ImportRefused(f"ambiguous layout: {_listing(found, prefix)} all name the {split} split")
    missing = [split for split in ("train", "val") if split not in by_split]
    if missing:
        raise ImportRefused(
            f"split layout without {' and '.join(f'{m}/' for m in missing)}: next to "
            f"{_listing(names, prefix)} the zip needs both train/ and val/ (or valid/, validation/); "
            "or upload class folders only and let the import split them"
        )


def _listing(names: list[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{name}/" for name in names)
