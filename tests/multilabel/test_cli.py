"""`cvat-bridge train` and `models show` on a multi-label collection: mAP and F1 at the thresholds, a row per
label with its AP and threshold, the epoch table's score named mAP."""

from __future__ import annotations

import re

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.services import Services
from cvat_bridge.training import list_models
from tests.helpers.multilabel import COLOURS, make_multilabel_collection


def test_train_and_show_print_the_multilabel_metrics(services: Services) -> None:
    make_multilabel_collection(services, count=60, name="cli-blocks")
    args = ["train", "--collection", "cli-blocks", "--architecture", "resnet18", "--name", "cli-multi"]
    options = ["--epochs", "2", "--image-size", "32", "--batch-size", "8", "--no-pretrained"]
    result = CliRunner().invoke(main, [*args, *options, "--threshold-folds", "2", "--num-workers", "0"])
    assert result.exit_code == 0, result.output
    (model,) = list_models(services)
    metrics = model.metrics
    assert model.settings["threshold_folds"] == 2
    assert f"validation mAP {metrics['map']:.1%}, macro F1 {metrics['macro']['f1']:.3f}" in result.output
    assert "cross-fitted train predictions (2 folds)" in result.output
    for name in COLOURS:
        row = metrics["per_label"][name]
        assert re.search(
            rf"^{name}\s+([\d.]+\s+){{4}}{row['threshold']:.3f}\s+{row['support']}$",
            result.output,
            re.MULTILINE,
        ), result.output
    assert re.search(r"^epoch\s+train loss\s+val loss\s+val mAP\s+time$", result.output, re.MULTILINE)
    assert f"(best val mAP, {metrics['map']:.1%})" in result.output

    listed = CliRunner().invoke(main, ["models", "list"])
    assert re.search(rf"cli-multi .* succeeded\s+mAP {metrics['map']:.1%}$", listed.output, re.MULTILINE)
    shown = CliRunner().invoke(main, ["models", "show", "cli-multi"])
    assert shown.exit_code == 0, shown.output
    assert f"validation mAP {metrics['map']:.1%}" in shown.output
