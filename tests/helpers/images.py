"""Generated image data with a learnable signal, written as real image files and zips."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path

from PIL import Image

# Class name -> base RGB colour. A classifier separates these easily; noise keeps it from being trivial.
PALETTE = {
    "red": (200, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 200),
    "yellow": (220, 200, 40),
    "purple": (140, 50, 160),
    "cyan": (40, 190, 200),
}


def class_image(label: str, seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """An RGB image whose dominant colour is the class's, with per-pixel noise and a random bright square."""
    rng = random.Random(f"{label}-{seed}")
    base = PALETTE[label]
    image = Image.new("RGB", size)
    pixels = [
        tuple(max(0, min(255, channel + rng.randint(-40, 40))) for channel in base)
        for _ in range(size[0] * size[1])
    ]
    image.putdata(pixels)
    x, y = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
    image.paste((255, 255, 255), (x, y, x + size[0] // 4, y + size[1] // 4))
    return image


def image_bytes(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write_class_folders(root: Path, counts: Mapping[str, int], seed: int = 0, fmt: str = "JPEG") -> Path:
    """root/<class>/<class>_<i>.jpg for each class and count; returns root."""
    for label, count in counts.items():
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            suffix = "jpg" if fmt == "JPEG" else fmt.lower()
            (folder / f"{label}_{index}.{suffix}").write_bytes(
                image_bytes(class_image(label, seed * 100_000 + index), fmt)
            )
    return root


def zip_tree(root: Path, zip_path: Path, prefix: str = "") -> Path:
    """Zip every file under root (paths relative to root, under an optional top folder prefix)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, f"{prefix}{path.relative_to(root).as_posix()}")
    return zip_path
