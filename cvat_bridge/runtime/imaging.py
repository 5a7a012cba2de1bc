"""Reading images and turning them into model input: one module for training, serving and Nuclio.

Depends on Pillow and NumPy only, so the Nuclio function folder ships a copy of this very file. Every
image is read the same way everywhere: EXIF orientation applied, any mode (palette, CMYK, 16-bit,
grayscale, alpha) converted to 8-bit RGB; files on disk are never rewritten.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps

DEFAULT_MAX_PIXELS = 64_000_000
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


class ImageReadError(ValueError):
    """The data is not an image we can read (not an image, truncated, corrupt, or too many pixels)."""


@dataclass(frozen=True)
class Preprocessing:
    """Evaluation transform of a model: resize the short side, centre-crop, scale to [0,1], normalise."""

    crop_size: int = 224
    resize_size: int = 256
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(
            crop_size=int(data["crop_size"]),
            resize_size=int(data["resize_size"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            interpolation=data.get("interpolation", "bilinear"),
            extra=dict(data.get("extra", {})),
        )


def open_image(
    source: str | os.PathLike | bytes | IO[bytes],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_short_side: int | None = None,
) -> Image.Image:
    """Decode an image and normalise it to 8-bit RGB with its EXIF orientation applied.

    ``min_short_side``: a JPEG whose short side is at least twice this is decoded at 1/2, 1/4 or 1/8 scale
    (libjpeg's DCT scaling), its short side kept at least this long. Evaluation and serving pass the resize
    size (``Preprocessing.resize_size``): a large frame reads faster (bench/predict, README), and the model
    input differs from a full decode's only as two good downscaling filters do. Other formats decode fully.
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                _check_pixels(image.size, max_pixels)
                if min_short_side:
                    _decode_smaller(image, min_short_side)
                image.load()
                return to_rgb(image)
    except ImageReadError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"image has too many pixels ({exc})") from exc
    except Exception as exc:  # Pillow raises many types for bad data: OSError, SyntaxError, ValueError...
        raise ImageReadError(f"not a readable image ({exc})") from exc


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageReadError(f"image has {width}x{height} pixels, more than the limit of {max_pixels}")


def _decode_smaller(image: Image.Image, min_short_side: int) -> None:
    """Ask the decoder for the smallest scale that keeps the short side >= ``min_short_side`` (JPEG only)."""
    width, height = image.size
    scale = min_short_side / min(width, height)
    if scale <= 0.5:
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))


def to_rgb(image: Image.Image) -> Image.Image:
    """EXIF-orient and convert any Pillow mode to 8-bit RGB (alpha composited on white)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        scale = 1 / 256 if image.mode.startswith("I;16") or np.asarray(image).max() > 255 else 1
        array = np.clip(np.asarray(image, dtype=np.float64) * scale, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def resize_and_crop(image: Image.Image, spec: Preprocessing) -> Image.Image:
    """Resize the short side to ``resize_size`` (as torchvision's Resize), then centre-crop ``crop_size``."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = spec.resize_size, int(spec.resize_size * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    resized = image.resize(new_size, INTERPOLATIONS[spec.interpolation])
    left = int(round((new_size[0] - spec.crop_size) / 2.0))
    top = int(round((new_size[1] - spec.crop_size) / 2.0))
    return resized.crop((left, top, left + spec.crop_size, top + spec.crop_size))


def to_tensor_array(image: Image.Image, spec: Preprocessing) -> np.ndarray:
    """A normalised float32 CHW array of an already resized RGB image."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def preprocess(image: Image.Image, spec: Preprocessing) -> np.ndarray:
    """The evaluation input of one RGB image: float32 array of shape (3, crop, crop)."""
    return to_tensor_array(resize_and_crop(image, spec), spec)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Independent per-label probabilities of multi-label logits."""
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
