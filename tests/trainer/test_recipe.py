"""The fine-tuning recipe: plain by default, the probe head as epoch 0, older parts on request."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from tests.helpers.models import colour_train_data
from tests.training.test_distributed import SETTINGS, GroupNormResNet18
from trainer.config import TrainSettings
from trainer.engine import Device, fine_tune
from trainer.evidence import gather_evidence
from trainer.recipe import Recipe


def _step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    model.train()
    images, labels = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 0, 1])
    loss = nn.functional.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_warmup_trains_the_head_only_then_the_backbone_slower_with_batchnorm_frozen() -> None:
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv4_conv_small", num_classes=2)
    recipe = Recipe(warmup_epochs=1, backbone_lr_scale=0.1, freeze_batchnorm=True)
    recipe.prepare(model)
    groups = recipe.param_groups(model, 1e-3)
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    assert [group["lr"] for group in optimizer.param_groups] == [1e-3, 1e-4]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.get_classifier().parameters()}

    before = _snapshot(model)
    recipe.start_epoch(model, 1)
    _step(model, optimizer)
    after_warmup = _snapshot(model)
    changed = {key for key in before if not torch.equal(before[key], after_warmup[key])}
    assert changed == {"classifier.weight", "classifier.bias"}  # backbone and BatchNorm statistics kept

    recipe.start_epoch(model, 2)
    _step(model, optimizer)
    after = _snapshot(model)
    assert not torch.equal(after["conv_stem.weight"], before["conv_stem.weight"])
    statistics = [key for key in before if key.endswith(("running_mean", "running_var"))]
    assert statistics and all(torch.equal(after[key], before[key]) for key in statistics)


def test_plain_recipe_trains_everything_with_batchnorm_statistics() -> None:
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv4_conv_small", num_classes=2)
    plain = Recipe.from_settings(TrainSettings(warmup_epochs=0, backbone_lr_scale=1, freeze_batchnorm=False))
    plain.prepare(model)
    optimizer = torch.optim.AdamW(plain.param_groups(model, 1e-3))
    before = _snapshot(model)
    plain.start_epoch(model, 1)
    _step(model, optimizer)
    after = _snapshot(model)
    assert not torch.equal(after["conv_stem.weight"], before["conv_stem.weight"])
    assert not torch.equal(after["bn1.running_mean"], before["bn1.running_mean"])


def test_defaults_are_plain_fine_tuning_with_the_probe_as_epoch_zero() -> None:
    defaults = Recipe.from_settings(TrainSettings())
    assert defaults == Recipe(linear_probe=True, head_init="random", flips="auto")
    assert defaults.needs_evidence
    assert Recipe.from_settings(TrainSettings(pretrained=False)) == Recipe()  # from scratch: no probe
    assert not Recipe.from_settings(TrainSettings(pretrained=False, flips="on")).needs_evidence


def test_warmup_keeps_batchnorm_statistics_of_the_frozen_backbone() -> None:
    """While the backbone does not learn, its BatchNorm statistics do not move either (the probe head was
    fitted on the evaluation-mode features)."""
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv4_conv_small", num_classes=2)
    recipe = Recipe(warmup_epochs=1)
    recipe.prepare(model)
    optimizer = torch.optim.AdamW(recipe.param_groups(model, 1e-3))
    before = _snapshot(model)
    recipe.start_epoch(model, 1)
    _step(model, optimizer)
    assert torch.equal(_snapshot(model)["bn1.running_mean"], before["bn1.running_mean"])
    recipe.start_epoch(model, 2)
    _step(model, optimizer)
    assert not torch.equal(_snapshot(model)["bn1.running_mean"], before["bn1.running_mean"])


def test_probe_fits_the_head_on_the_frozen_features_and_keeps_the_backbone() -> None:
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv4_conv_small", num_classes=3)
    images, labels = torch.randn(12, 3, 64, 64), torch.arange(12) % 3
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=5)
    before = _snapshot(model)
    evidence = gather_evidence(model, model.get_classifier(), loader, Device.auto(), lambda: None)
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())
    assert Recipe().fit_probe(evidence, 3, None, None) is None  # no probe asked for

    choice = Recipe(linear_probe=True).fit_probe(evidence, 3, torch.ones(3), None)
    with torch.no_grad():
        model.get_classifier().weight.copy_(choice.weight)
        model.get_classifier().bias.copy_(choice.bias)
    model.eval()
    with torch.no_grad():
        logits = model(images)
    assert torch.equal(logits.argmax(1), labels)  # converged: every training image right...
    assert logits.abs().max() < 20  # ...with the L2 penalty keeping the logits at a trainable scale


def test_fine_tuning_keeps_the_probe_head_when_no_epoch_beats_it(tmp_path: Path) -> None:
    data = colour_train_data(tmp_path / "images", per_class=8)
    # A learning rate far too high wrecks every epoch; the probe head alone already tells the colours apart.
    settings = TrainSettings.model_validate(
        {**SETTINGS, "epochs": 2, "pretrained": True} | {"learning_rate": 0.1, "num_workers": 0}
    )
    result = fine_tune(GroupNormResNet18(), settings, data, tmp_path / "out")

    assert max(epoch["val_accuracy"] for epoch in result.history) < 0.5
    assert result.metrics["probe_head"]["val_accuracy"] == 1.0
    assert result.best_epoch == 0 and result.metrics["best_epoch"] == 0
    assert result.metrics["accuracy"] == 1.0  # measured on the reloaded weights.pt: the probe's weights
