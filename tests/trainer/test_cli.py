"""`cvat-bridge train` (progress, final metrics) and `cvat-bridge models list`."""

from __future__ import annotations

import re

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.services import Services
from cvat_bridge.training import list_models
from tests.helpers.models import make_color_collection


def test_train_shows_progress_and_metrics_then_models_list(services: Services) -> None:
    make_color_collection(services, per_class=6, name="cli-colours")
    runner = CliRunner()
    args = [
        "train",
        "--collection",
        "cli-colours",
        "--architecture",
        "resnet18",
        "--name",
        "cli-model",
        "--epochs",
        "2",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--no-pretrained",
        "--augmentation",
        "none",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    (model,) = list_models(services)
    metrics = model.metrics
    assert f"model {model.id}: cli-model v1 (resnet18)" in result.output
    assert "epoch" in result.output  # the progress bar
    assert (
        f"validation accuracy {metrics['accuracy']:.1%} ({metrics['correct']}/{metrics['total']})"
        in result.output
    )
    for name in ("blue", "green", "red"):
        assert re.search(
            rf"^{name}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+{metrics['per_class'][name]['support']}$",
            result.output,
            re.MULTILINE,
        ), result.output

    listed = runner.invoke(main, ["models", "list"])
    assert listed.exit_code == 0
    assert re.search(
        rf"^\s*{model.id}\s+cli-model\s+1\s+resnet18\s+succeeded\s+{metrics['accuracy']:.1%}",
        listed.output,
        re.MULTILINE,
    ), listed.output

    refused = runner.invoke(main, [*args[:4], "resnet19", *args[5:]])
    assert refused.exit_code != 0 and "unknown architecture 'resnet19'" in refused.output
    missing = runner.invoke(
        main, ["train", "--collection", "nope", "--architecture", "resnet18", "--name", "x"]
    )
    assert missing.exit_code != 0 and "no collection named 'nope'" in missing.output
    assert len(list_models(services)) == 1
