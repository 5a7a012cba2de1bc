"""The static catalogue (trainer/catalogue.json, read by the API without torch) is what torchvision and
timm give now, and what follows from it agrees with the libraries."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import get_model_weights

from trainer.catalogue import CATALOGUE_FILE, get_architecture, hub_dir
from trainer.catalogue_build import entries, render


def test_the_catalogue_file_is_what_the_libraries_give_now() -> None:
    assert CATALOGUE_FILE.read_text() == render(entries()), (
        "trainer/catalogue.json is out of date: run python -m trainer.catalogue_build"
    )


@pytest.mark.parametrize(
    "variables", [{}, {"XDG_CACHE_HOME": "xdg"}, {"TORCH_HOME": "th", "XDG_CACHE_HOME": "x"}]
)
def test_weights_folder_is_torch_hubs(
    variables: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    assert hub_dir() == torch.hub.get_dir()


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b2", "vit_b_16", "swin_t"])
def test_torchvision_preprocessing_is_the_weights_transform(name: str) -> None:
    transform = get_model_weights(name).DEFAULT.transforms()
    native = get_architecture(name).preprocessing()
    assert (native.crop_size, native.resize_size) == (transform.crop_size[0], transform.resize_size[0])
    assert (native.mean, native.std) == (tuple(transform.mean), tuple(transform.std))
    assert native.interpolation == transform.interpolation.value


def test_other_sizes_keep_the_native_resize_ratio() -> None:
    assert get_architecture("resnet18").preprocessing(200).resize_size == 229  # 200 * 256 / 224 = 228.6
    assert (
        get_architecture("timm/tf_efficientnet_lite0").preprocessing(200).resize_size == 228
    )  # floor(200 / 0.875)
