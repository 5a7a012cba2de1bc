"""The catalogue's details come from torchvision's metadata; pretrained weights load from TORCH_HOME and,
when missing, the job fails at once saying which file to put where."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fastapi.testclient import TestClient
from torchvision.models import get_model

from cvat_bridge.cli import main
from cvat_bridge.services import Services
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_model
from trainer.catalogue import get_architecture
from trainer.weights import DOWNLOAD_ENV

EXPECTED = {
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_b2",
    "efficientnet_v2_s",
    "convnext_tiny",
    "regnet_y_800mf",
    "vit_b_16",
    "swin_t",
}


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME; downloads off, so no test ever reaches for the network."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv(DOWNLOAD_ENV, "0")
    return home


def test_catalogue_lists_the_expected_architectures_with_details(
    client: TestClient, torch_home: Path
) -> None:
    response = client.get("/api/architectures")
    assert response.status_code == 200
    by_name = {entry["name"]: entry for entry in response.json()}
    assert EXPECTED <= set(by_name)
    resnet18 = by_name["resnet18"]
    assert resnet18["num_params"] == sum(p.numel() for p in get_model("resnet18").parameters()) == 11_689_512
    assert resnet18["gflops"] == pytest.approx(1.814)
    assert (resnet18["imagenet_acc1"], resnet18["imagenet_acc5"]) == (69.758, 89.078)
    assert resnet18["native_size"] == 224 and by_name["efficientnet_b2"]["native_size"] == 288
    assert resnet18["weights_file"] == "resnet18-f37072fd.pth" and resnet18["weights_cached"] is False
    assert resnet18["recipe"].startswith("https://github.com/pytorch/vision")
    for name in EXPECTED:
        assert by_name[name]["source"] == "torchvision"
        assert by_name[name]["num_params"] > 0 and by_name[name]["gflops"] > 0, name


def test_pretrained_weights_load_from_torch_home(torch_home: Path) -> None:
    spec = get_architecture("resnet18")
    weights = spec.weights_file()
    assert Path(weights.folder) == torch_home / "hub" / "checkpoints"
    reference = get_model("resnet18")  # random ImageNet-shaped weights standing in for the real file
    Path(weights.folder).mkdir(parents=True)
    torch.save(reference.state_dict(), weights.path)

    model = spec.build(num_classes=4, pretrained=True)
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert model.fc.out_features == 4


def test_missing_weights_fail_the_job_at_once_naming_file_and_folder(
    services: Services, torch_home: Path
) -> None:
    collection_id = make_color_collection(services, per_class=4)
    start = time.monotonic()
    model = train_model(
        services,
        collection_id=collection_id,
        architecture="resnet18",
        name="needs-weights",
        settings={**TINY_SETTINGS, "pretrained": True},
    )
    assert time.monotonic() - start < 30
    assert model.job.status == "failed"
    error = model.job.error
    assert "resnet18-f37072fd.pth" in error
    assert str(torch_home / "hub" / "checkpoints") in error
    assert "pretrained: false" in error
    assert "download it from https://download.pytorch.org/models/resnet18-f37072fd.pth" in error
    assert "cvat-bridge weights add FILE --architecture resnet18" in error


def test_weights_add_installs_a_fitting_file_and_refuses_others(tmp_path: Path, torch_home: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "my-resnet18.pth"
    torch.save(get_model("resnet18").state_dict(), good)
    wrong = tmp_path / "my-resnet34.pth"
    torch.save(get_model("resnet34").state_dict(), wrong)

    refused = runner.invoke(main, ["weights", "add", str(wrong), "--architecture", "resnet18"])
    assert refused.exit_code != 0 and "not a resnet18 state dict" in refused.output
    # What differs and what was expected, not torch's bare first line.
    assert "unexpected keys (e.g. layer1.2." in refused.output
    assert "Expected the ImageNet weights of resnet18: the file resnet18-f37072fd.pth" in refused.output
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not torch")
    unreadable = runner.invoke(main, ["weights", "add", str(junk), "--architecture", "resnet18"])
    assert "it is not a file torch.save wrote" in unreadable.output
    assert not (torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth").exists()

    unknown = runner.invoke(main, ["weights", "add", str(good), "--architecture", "resnet19"])
    assert unknown.exit_code != 0 and "unknown architecture 'resnet19'" in unknown.output

    added = runner.invoke(main, ["weights", "add", str(good), "--architecture", "resnet18"])
    assert added.exit_code == 0, added.output
    # Random weights of the right shape: installed, with a note that they are not the official file.
    assert "note: its SHA-256 starts with" in added.output and "not f37072fd" in added.output
    assert get_architecture("resnet18").details()["weights_cached"] is True
    model = get_architecture("resnet18").build(num_classes=2, pretrained=True)
    assert torch.equal(model.conv1.weight, torch.load(good, weights_only=True)["conv1.weight"])
