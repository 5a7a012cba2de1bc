"""The dataset doctor: which files are junk, which are images we can train on, and why the others are not.

Files are judged, never changed: EXIF orientation, palette, CMYK, 16-bit, alpha and grayscale images are
accepted as they are (``cvat_bridge.runtime.imaging`` normalises them when they are read).
"""

from __future__ import annotations

import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import ExifTags, Image, UnidentifiedImageError

from cvat_bridge.ingest.store import ImportRefused
from cvat_bridge.limits import MAX_FILE_NAME_BYTES, MAX_PATH_BYTES

# Pillow's format -> the name we report (MPO: JPEGs from cameras with a second, embedded picture).
SUPPORTED_FORMATS = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "BMP": "BMP",
    "WEBP": "WebP",
    "TIFF": "TIFF",
}
IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".bmp",
    ".webp",
    ".tif",
    ".tiff",
    ".gif",
    ".heic",
    ".heif",
    ".avif",
    ".ico",
    ".ppm",
    ".pgm",
    ".pbm",
    ".tga",
    ".jp2",
    ".psd",
    ".svg",
}
JUNK_NAMES = {
    ".ds_store": "macOS folder settings",
    "thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
}
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class Skipped(Exception):
    """A file left out of the collection; ``kind`` groups the reasons in the report."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class ImageFacts:
    format: str
    mode: str
    width: int  # as displayed: EXIF orientation applied
    height: int


def junk_reason(path: str) -> str | None:
    """Why a zip member is junk (system files, hidden files), or None."""
    parts = PurePosixPath(path).parts
    if "__MACOSX" in parts:
        return "macOS archive metadata (__MACOSX/)"
    name = parts[-1]
    if name.lower() in JUNK_NAMES:
        return JUNK_NAMES[name.lower()]
    if any(part.startswith(".") for part in parts):
        return "hidden file"
    return None


def name_reason(path: str) -> str | None:
    """Why a zip member's path cannot be a file here (a name or the path too long), or None."""
    if len(path.encode()) > MAX_PATH_BYTES:
        return f"the path is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part.encode()) > MAX_FILE_NAME_BYTES for part in PurePosixPath(path).parts):
        return f"a file or folder name is longer than {MAX_FILE_NAME_BYTES} bytes"
    return None


def inspect_image(path: Path, max_pixels: int, name: str) -> ImageFacts:
    """Check that a file is a complete image of a supported format within the pixel limit.

    Raises ``Skipped`` for files that are not images, unsupported formats and corrupt or truncated data,
    and ``ImportRefused`` for an image past the pixel limit (a decompression bomb refuses the whole import);
    messages call the file ``name``.

    Non-JPEG images are decoded in full. JPEGs (most of any dataset) are checked without decoding: header
    parsed by Pillow, then the stream must end: an end-of-image marker after the start of scan (that marker
    cannot occur inside scan data), which catches truncated files for a fraction of a decode's cost.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = SUPPORTED_FORMATS.get(image.format or "")
                if kind is None:
                    raise Skipped(
                        "unsupported_format",
                        f"{image.format} images are not supported for training "
                        f"(use {', '.join(sorted(set(SUPPORTED_FORMATS.values())))})",
                    )
                width, height = image.size
                if width * height > max_pixels:
                    raise ImportRefused(_pixels_message(name, width, height, max_pixels))
                mode = image.mode
                if kind == "JPEG":
                    _check_jpeg_is_complete(path)
                else:
                    image.load()
                orientation = image.getexif().get(ExifTags.Base.Orientation)
    except (Skipped, ImportRefused):
        raise
    except Image.DecompressionBombError as exc:
        raise ImportRefused(f"{name}: {exc}; images past the pixel limit are refused") from None
    except UnidentifiedImageError:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise Skipped("corrupt", "corrupt image: its content is not a readable image") from None
        raise Skipped("not_image", "not an image file") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for damaged data
        raise Skipped("corrupt", f"corrupt or truncated image ({exc})") from None
    if orientation in _ROTATED:
        width, height = height, width
    return ImageFacts(format=kind, mode=mode, width=width, height=height)


def _check_jpeg_is_complete(path: Path) -> None:
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        scan = _start_of_scan(data)
        if scan is None:
            raise Skipped("corrupt", "corrupt JPEG: no image data (start of scan) found")
        if data.rfind(b"\xff\xd9", scan) == -1:  # from the end: the marker is normally the last 2 bytes
            raise Skipped("corrupt", "truncated JPEG: the file ends before the image data does")


def _start_of_scan(data: mmap.mmap) -> int | None:
    """Offset just past the first start-of-scan segment, walking the marker segments after SOI."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
        else:
            end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
            if marker == 0xDA:
                return end
            position = end
    return None


def _pixels_message(name: str, width: int, height: int, max_pixels: int) -> str:
    return (
        f"{name} has {width}x{height} = {width * height} pixels, past the limit of {max_pixels} "
        "(a decompression bomb or an image far larger than training needs); the import is refused"
    )
