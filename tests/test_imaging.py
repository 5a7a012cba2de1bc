"""Reading images the same way everywhere: any mode to RGB, EXIF orientation, limits, evaluation transform."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from cvat_bridge.runtime.imaging import ImageReadError, Preprocessing, open_image, preprocess
from tests.helpers.images import class_image, image_bytes


def encoded(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("P", "PNG"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("L", "JPEG"),
        ("1", "PNG"),
    ],
)
def test_every_mode_reads_as_8bit_rgb(mode: str, fmt: str) -> None:
    source = class_image("red", 1)
    converted = source.convert("L").convert(mode) if mode in ("I;16", "1") else source.convert(mode)
    image = open_image(encoded(converted, fmt))
    assert image.mode == "RGB" and image.size == source.size


def test_sixteen_bit_keeps_its_brightness() -> None:
    bright = Image.fromarray(np.full((8, 8), 60000, dtype=np.uint16))
    assert np.asarray(open_image(encoded(bright, "PNG"))).min() > 200


def test_transparent_pixels_become_white() -> None:
    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert np.asarray(open_image(encoded(clear, "PNG")))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied() -> None:
    landscape = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image = open_image(encoded(landscape, "JPEG", exif=exif.tobytes()))
    assert image.size == (20, 40)


def test_bad_data_and_pixel_limits_are_refused_clearly() -> None:
    with pytest.raises(ImageReadError, match="not a readable image"):
        open_image(b"this is not an image")
    with pytest.raises(ImageReadError, match="not a readable image"):
        open_image(image_bytes(class_image("red", 2))[:300])  # truncated JPEG
    with pytest.raises(ImageReadError, match="more than the limit"):
        open_image(image_bytes(class_image("red", 3)), max_pixels=100)


def test_preprocess_equals_torchvision_evaluation_transform() -> None:
    image = open_image(image_bytes(class_image("blue", 4, size=(333, 250))))
    spec = Preprocessing(crop_size=224, resize_size=256)
    reference = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )(image)
    ours = torch.from_numpy(preprocess(image, spec))
    assert ours.shape == (3, 224, 224)
    assert torch.allclose(ours, reference, atol=1e-5)
    assert Preprocessing.from_dict(spec.to_dict()) == spec
