"""Reading images the same way everywhere: any mode to RGB, EXIF orientation, limits, evaluation transform,
large JPEGs decoded at a reduced scale by training's evaluation and serving alike."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from cvat_bridge.runtime.imaging import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    Preprocessing,
    open_image,
    preprocess,
)
from cvat_bridge.serving import read_images
from tests.helpers.images import class_image, image_bytes
from trainer.data import eval_dataset


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
    image = open_image(encoded(landscape, "JPEG", exif=_rotate_90_exif()))
    assert image.size == (20, 40)


def test_large_jpeg_is_decoded_smaller_but_never_below_the_resize_size() -> None:
    photo = class_image("green", 5, size=(160, 120)).resize((1600, 1200), Image.Resampling.BICUBIC)
    spec = Preprocessing(crop_size=224, resize_size=256)
    data = encoded(photo, "JPEG", quality=90)

    reduced = open_image(data, min_short_side=spec.resize_size)
    assert reduced.size == (400, 300)  # 1/4 scale: 1/8 would leave a short side of 150 < 256
    full = open_image(data)
    assert full.size == (1600, 1200)
    difference = np.abs(preprocess(reduced, spec) - preprocess(full, spec))
    assert difference.mean() < 0.05  # normalised units: ~3/255 of a pixel value on average

    rotated = open_image(encoded(photo, "JPEG", exif=_rotate_90_exif()), min_short_side=256)
    assert rotated.size == (300, 400)
    assert open_image(encoded(photo, "PNG"), min_short_side=256).size == (1600, 1200)  # JPEG only
    assert open_image(data, min_short_side=600).size == (800, 600)
    assert open_image(data, min_short_side=601).size == (1600, 1200)


def test_training_evaluation_reads_a_large_frame_exactly_as_serving(tmp_path) -> None:
    frame = class_image("blue", 6, size=(192, 108)).resize((1920, 1080), Image.Resampling.BICUBIC)
    path = tmp_path / "frame.jpg"
    path.write_bytes(encoded(frame, "JPEG", quality=90))
    spec = Preprocessing(crop_size=224, resize_size=256)

    evaluated, label = eval_dataset([(str(path), 3)], spec)[0]
    (served,) = read_images([("frame.jpg", path.read_bytes())], DEFAULT_MAX_PIXELS, spec.resize_size)
    assert served.size == (480, 270)
    assert label == 3
    assert torch.equal(evaluated, torch.from_numpy(preprocess(served, spec)))


def _rotate_90_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    return exif.tobytes()


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
