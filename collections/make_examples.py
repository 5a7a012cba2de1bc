"""Write the example zips of collections/README.md: `python collections/make_examples.py [FOLDER]` (default:
collections/examples). A script, not a module: this folder must never become a Python package.

Each zip shows one rule of the README; the tests import them and check that the import does what the
README says. Images are small generated JPEGs (a colour per class, noise, a bright square): distinct per
file, so only the duplicates made on purpose are duplicates.
"""

from __future__ import annotations

import io
import random
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

COLOURS = {"wool": (190, 170, 130), "cotton": (225, 225, 215), "silk": (140, 50, 160)}
FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # zip entry times: the same zip bytes on every run


def jpeg(label: str, index: int) -> bytes:
    """A 24x16 JPEG of the class's colour, distinct per (label, index)."""
    rng = random.Random(f"{label}-{index}")
    image = Image.new("RGB", (24, 16))
    image.putdata(
        [tuple(min(255, max(0, c + rng.randint(-30, 30))) for c in COLOURS[label]) for _ in range(24 * 16)]
    )
    x, y = rng.randrange(12), rng.randrange(8)
    image.paste((255, 255, 255), (x, y, x + 6, y + 4))
    return encoded(image, "JPEG")


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def images(prefix: str, label: str, indices: Iterable[int]) -> dict[str, bytes]:
    return {f"{prefix}{label}/{label}_{i}.jpg": jpeg(label, i) for i in indices}


def class_folders() -> dict[str, bytes]:
    """Class folders only: split 70/30 per class on import."""
    return {**images("", "wool", range(10)), **images("", "cotton", range(7))}


def split_folders() -> dict[str, bytes]:
    """train/ val/ test/ under one top folder, a sub-folder inside a class: the split is kept."""
    return {
        **images("fabrics/train/", "wool", range(3)),
        **images("fabrics/train/", "cotton", range(3)),
        "fabrics/train/wool/closeups/wool_99.jpg": jpeg("wool", 99),
        **images("fabrics/val/", "wool", range(10, 11)),
        **images("fabrics/val/", "cotton", range(10, 12)),
        **images("fabrics/test/", "wool", range(20, 22)),
        **images("fabrics/test/", "cotton", range(20, 21)),
    }


def doctor() -> dict[str, bytes]:
    """Six good images and one file of every kind the dataset doctor skips."""
    whole = jpeg("wool", 50)
    png = encoded(Image.new("RGB", (40, 20), (90, 120, 30)), "PNG")
    return {
        **images("", "wool", range(3)),
        **images("", "silk", range(3)),
        "__MACOSX/wool/._wool_0.jpg": b"resource fork",
        "wool/.DS_Store": b"finder",
        "silk/Thumbs.db": b"thumbs",
        "silk/.hidden.jpg": jpeg("silk", 60),
        "wool/notes.txt": b"bought in 2024",
        "wool/garbage.jpg": b"this is not a jpeg at all",
        "wool/truncated.jpg": whole[: len(whole) // 2],
        "silk/truncated.png": png[: len(png) // 2],
        "silk/animation.gif": encoded(Image.new("P", (40, 20)), "GIF"),
        "README.md": b"# fabrics",
    }


def duplicates() -> dict[str, bytes]:
    """A given split with copies: within train, across train and val (leakage), across classes (conflict)."""
    twin, spread, confused = jpeg("wool", 90), jpeg("wool", 91), jpeg("silk", 92)
    return {
        **images("train/", "wool", range(3)),
        **images("train/", "silk", range(3)),
        **images("val/", "wool", range(10, 12)),
        **images("val/", "silk", range(10, 12)),
        "train/wool/twin_a.jpg": twin,
        "train/wool/twin_b.jpg": twin,
        "train/wool/spread.jpg": spread,
        "val/wool/spread_copy.jpg": spread,
        "train/silk/confused.jpg": confused,
        "train/wool/confused.jpg": confused,
    }


EXAMPLES = {
    "class-folders.zip": class_folders,
    "split-folders.zip": split_folders,
    "doctor.zip": doctor,
    "duplicates.zip": duplicates,
}


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in EXAMPLES.items():
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in make().items():
                archive.writestr(zipfile.ZipInfo(member, FIXED_TIME), data, zipfile.ZIP_DEFLATED)
        written.append(folder / name)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "examples"
    for path in write(target):
        print(path)
