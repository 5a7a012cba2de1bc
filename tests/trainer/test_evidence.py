"""The choices a run makes from its own train split: flips (mirror test), BatchNorm statistics re-estimated
after training, the learning-rate schedule, and the majority-class baseline every model is measured by."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.helpers.models import TINY_SETTINGS, colour_train_data
from trainer.batchnorm import recalibrate
from trainer.catalogue import get_architecture
from trainer.config import TrainSettings
from trainer.data import TrainData
from trainer.engine import Device, WarmupCosine, fine_tune
from trainer.evidence import gather_evidence, mirror_test
from trainer.metrics import majority_baseline


def _half_bright(side: str, seed: int, size: int = 32) -> np.ndarray:
    """Noise with one half brighter: the class is the side, which mirroring swaps."""
    rng = np.random.default_rng(seed)
    pixels = rng.normal(0.0, 1.0, (3, size, size)).astype(np.float32)
    half = slice(0, size // 2) if side == "left" else slice(size // 2, size)
    pixels[:, :, half] += 1.5
    return pixels


def _coloured(channel: int, seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.normal(0.0, 1.0, (3, size, size)).astype(np.float32)
    pixels[channel] += 1.5
    return pixels


def _loader(images: list[np.ndarray], labels: list[int]) -> torch.utils.data.DataLoader:
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(np.stack(images)), torch.tensor(labels))
    return torch.utils.data.DataLoader(dataset, batch_size=16)


def test_mirror_test_finds_classes_that_mirroring_swaps() -> None:
    images = [_half_bright(side, seed) for seed in range(40) for side in ("left", "right")]
    evidence = gather_evidence(None, None, _loader(images, [0, 1] * 40), Device.auto(), lambda: None)
    test = mirror_test(evidence, 2)
    assert test.accuracy > 0.9 and test.mirrored_accuracy < 0.2
    assert not test.keeps_classes


def test_mirror_test_keeps_flips_where_mirroring_keeps_the_class() -> None:
    images = [_coloured(channel, seed) for seed in range(30) for channel in range(3)]
    evidence = gather_evidence(None, None, _loader(images, [0, 1, 2] * 30), Device.auto(), lambda: None)
    test = mirror_test(evidence, 3)
    assert test.accuracy > 0.9 and test.keeps_classes


def _write(root: Path, split: str, label: str, index: int, pixels: np.ndarray) -> str:
    path = root / split / label / f"{index}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    scaled = np.clip(pixels.transpose(1, 2, 0) * 40 + 100, 0, 255).astype(np.uint8)
    Image.fromarray(scaled).save(path)
    return str(path)


def test_training_leaves_flips_out_where_they_would_swap_classes(tmp_path: Path) -> None:
    samples = {
        split: [
            (_write(tmp_path, split, side, seed, _half_bright(side, seed + offset)), label)
            for seed in range(count)
            for label, side in enumerate(("left", "right"))
        ]
        for split, count, offset in (("train", 30, 0), ("val", 8, 1000))
    }
    data = TrainData(["left", "right"], samples["train"], samples["val"], [])
    settings = TrainSettings(**{**TINY_SETTINGS, "epochs": 1, "augmentation": "light"})
    result = fine_tune(get_architecture("resnet18"), settings, data, tmp_path / "model")
    assert result.metrics["recipe"]["flips"] is False
    assert result.metrics["recipe"]["mirror_test"]["keeps_classes"] is False

    colours = colour_train_data(tmp_path / "colours", per_class=8)
    result = fine_tune(get_architecture("resnet18"), settings, colours, tmp_path / "colour-model")
    assert result.metrics["recipe"]["flips"] is True


class _SmallBatchNormNet(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 3),
        )


def test_batchnorm_statistics_are_reestimated_when_they_lower_the_train_loss() -> None:
    torch.manual_seed(0)
    model = _SmallBatchNormNet()
    images = [_coloured(channel, seed) for seed in range(20) for channel in range(3)]
    loader = _loader(images, [0, 1, 2] * 20)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):  # trained in training mode (batch statistics) ...
        for batch, labels in loader:
            model.train()
            loss = nn.functional.cross_entropy(model(batch), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    batchnorm = model[1]
    batchnorm.running_mean.fill_(0.0)  # ... while the running statistics are far off the batches' (as
    batchnorm.running_var.fill_(1e4)  # after few steps with a small momentum): every image looks alike

    result = recalibrate(model, loader, Device.auto())
    assert result is not None and result.kept
    assert result.train_loss_reestimated < result.train_loss_as_trained
    assert result.train_loss_as_trained > 0.5 > 0.05 > result.train_loss_reestimated
    assert float(batchnorm.running_var.max()) < 1e3
    assert batchnorm.momentum == 0.1  # the layer's own momentum is back

    again = recalibrate(model, loader, Device.auto())  # exact statistics already: nothing to gain
    assert again is not None and again.train_loss_reestimated == pytest.approx(
        again.train_loss_as_trained, rel=1e-4
    )


def test_model_without_batchnorm_is_left_alone() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
    assert recalibrate(model, _loader([_coloured(0, 0)] * 4, [0, 1, 0, 1]), Device.auto()) is None


def test_learning_rate_warms_up_then_follows_a_cosine_per_step_that_leaves_the_last_epoch_learning() -> None:
    epochs, steps = 4, 25
    schedule = WarmupCosine(total_steps=epochs * steps, tail_steps=steps)
    factors = [schedule(step) for step in range(epochs * steps)]
    assert factors[0] < factors[4] == pytest.approx(1.0)  # 5 warm-up steps
    assert all(a > b for a, b in zip(factors[5:], factors[6:], strict=False))  # moves every step
    per_epoch = [sum(factors[e * steps : (e + 1) * steps]) / steps for e in range(epochs)]
    cosine_per_epoch = [0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    # As much learning overall as a cosine stepped per epoch, the last epoch included ...
    assert sum(per_epoch) == pytest.approx(sum(cosine_per_epoch), rel=0.02)
    assert per_epoch[-1] > cosine_per_epoch[-1] > 0.1
    # ... where a cosine ending at the last step leaves the last epoch almost nothing.
    ending = WarmupCosine(total_steps=epochs * steps)
    assert sum(ending(step) for step in range(3 * steps, 4 * steps)) / steps < 0.1
    assert ending(epochs * steps - 1) < 0.01


def test_baseline_flags_a_model_that_learnt_nothing() -> None:
    train = [("x", 0)] * 6 + [("y", 1)] * 4
    labels = np.array([0, 0, 0, 1, 1])
    one_class = np.tile([2.0, 0.0], (5, 1))  # predicts class 0 for every image
    baseline = majority_baseline(train, labels, one_class, ["ants", "bees"])
    assert baseline["majority_class"] == "ants" and baseline["accuracy"] == pytest.approx(0.6)
    assert not baseline["beats_baseline"]
    assert len(baseline["problems"]) == 2 and "'ants'" in baseline["problems"][1]

    right = np.eye(2)[labels] * 3
    assert majority_baseline(train, labels, right, ["ants", "bees"])["beats_baseline"]


def test_a_model_that_learnt_nothing_says_so_in_its_metrics(tmp_path: Path) -> None:
    """Labels unrelated to the images, 80% one class: no model beats always answering that class."""
    colours = colour_train_data(tmp_path / "images", per_class=20)
    rng = np.random.default_rng(0)
    relabel = [(path, int(rng.random() < 0.2)) for path, _ in colours.train + colours.val]
    data = TrainData(["common", "rare"], relabel[:40], relabel[40:], [])
    settings = TrainSettings(**{**TINY_SETTINGS, "epochs": 1})
    metrics = fine_tune(get_architecture("mobilenet_v3_small"), settings, data, tmp_path / "model").metrics

    assert metrics["baseline"]["majority_class"] == "common"
    assert not metrics["baseline"]["beats_baseline"]
    assert any("no better than always answering 'common'" in text for text in metrics["warnings"])
    assert any("image_size 32 is small for mobilenet_v3_small" in text for text in metrics["warnings"])


def test_a_large_train_split_mirrors_a_spread_of_about_a_thousand_images() -> None:
    images = [_half_bright(side, seed, size=16) for seed in range(1300) for side in ("left", "right")]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(np.stack(images)), torch.tensor([0, 1] * 1300)),
        batch_size=32,
    )
    evidence = gather_evidence(None, None, loader, Device.auto(), lambda: None)
    assert len(evidence.features) == 2600
    assert 900 <= len(evidence.mirrored) <= 1400
    positions = evidence.mirrored_index
    first = evidence.features[positions[0]].view(3, 16, 16)
    assert torch.equal(evidence.mirrored[0], first.flip(-1).flatten())
    assert int(positions.max()) > 2000  # spread over the whole split, not its start
    assert not mirror_test(evidence, 2).keeps_classes
