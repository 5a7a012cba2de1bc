"""Opening an uploaded zip safely: its member list is checked before a single byte is extracted.

Refused (``ImportRefused``): not a zip, encrypted members, path traversal (``..``, absolute paths, drive
letters), symlinks, a name given twice or as both a file and a folder, and zip bombs: more files, more
uncompressed bytes or a higher compression ratio than the settings allow.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cvat_bridge.ingest.store import ImportRefused
from cvat_bridge.settings import Settings

RATIO_CHECK_MIN_BYTES = 1024**2  # a single member's ratio is judged from this size up (tiny files vary)


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int
    max_uncompressed_bytes: int
    max_compression_ratio: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveLimits:
        return cls(settings.max_files, settings.max_uncompressed_bytes, settings.max_compression_ratio)


@dataclass(frozen=True)
class Member:
    """A regular file of the archive under its checked, normalised path."""

    path: str  # forward slashes, no leading slash, no "." or ".." parts
    info: zipfile.ZipInfo


def open_archive(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefused(f"the upload is not a readable zip file ({exc})") from None


def checked_members(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[Member]:
    """The archive's files (folders left out) after the safety checks; refuses the whole archive otherwise."""
    infos = archive.infolist()
    files = [info for info in infos if not info.is_dir()]
    if len(files) > limits.max_files:
        raise ImportRefused(f"the zip holds {len(files)} files, more than the limit of {limits.max_files}")
    total = sum(info.file_size for info in files)
    if total > limits.max_uncompressed_bytes:
        raise ImportRefused(
            f"the zip would unpack to {total} bytes, more than the limit of {limits.max_uncompressed_bytes}"
        )
    compressed = sum(info.compress_size for info in files)
    if _too_compressed(total, compressed, limits):
        raise ImportRefused(_ratio_message("the zip", total, compressed, limits))
    members, seen = [], set()
    for info in infos:
        path = safe_path(info.filename)
        if _is_symlink(info):
            raise ImportRefused(f"the zip holds a symbolic link ({info.filename!r}); symlinks are refused")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ImportRefused(f"{info.filename!r} is encrypted; upload a zip without a password")
        if _too_compressed(info.file_size, info.compress_size, limits):
            raise ImportRefused(_ratio_message(repr(path), info.file_size, info.compress_size, limits))
        if path in seen:
            raise ImportRefused(f"the zip holds {path!r} twice")
        seen.add(path)
        members.append(Member(path, info))
    folders = {parent.as_posix() for member in members for parent in PurePosixPath(member.path).parents}
    clash = next((member.path for member in members if member.path in folders), None)
    if clash:
        raise ImportRefused(f"the zip holds {clash!r} both as a file and as a folder")
    return members


def safe_path(name: str) -> str:
    """The member name as a relative forward-slash path; refuses absolute paths and ``..``."""
    normalised = name.replace("\\", "/")
    parts = PurePosixPath(normalised).parts
    absolute = normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":")
    if absolute or ".." in parts:
        raise ImportRefused(f"unsafe path in the zip: {name!r} (absolute paths and '..' are refused)")
    clean = [part for part in parts if part not in ("", ".")]
    if not clean:
        raise ImportRefused(f"unsafe path in the zip: {name!r}")
    return "/".join(clean)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _too_compressed(size: int, compressed: int, limits: ArchiveLimits) -> bool:
    return size > RATIO_CHECK_MIN_BYTES and size > limits.max_compression_ratio * max(compressed, 1)


def _ratio_message(what: str, size: int, compressed: int, limits: ArchiveLimits) -> str:
    ratio = size / max(compressed, 1)
    return (
        f"{what} is compressed {ratio:.0f}:1, past the limit of {limits.max_compression_ratio:.0f}:1 "
        "(this looks like a zip bomb)"
    )
