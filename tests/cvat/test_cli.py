"""`cvat-bridge collections import-cvat` and `cvat-bridge cvat ...` against the CVAT stand-in."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.ingest.store import list_collections
from tests.cvat.conftest import frames
from tests.standins.cvat import CvatStandin


def test_cli_lists_and_imports(services, cvat: CvatStandin) -> None:
    labels = ["red", "green"] * 5
    task = cvat.add_task(
        "cli-task",
        frames(labels),
        labels=["red", "green"],
        subset="Train",
        tags={i: [label] for i, label in enumerate(labels) if i},
    )
    runner = CliRunner()

    listed = runner.invoke(main, ["cvat", "tasks"])
    assert listed.exit_code == 0 and "cli-task [Train]: 10 frames, labels green, red" in listed.output
    status = runner.invoke(main, ["cvat", "status"])
    assert status.exit_code == 0 and json.loads(status.output)["user"] == "admin"

    imported = runner.invoke(main, ["collections", "import-cvat", "--task", str(task), "--name", "cli"])
    assert imported.exit_code == 0, imported.output
    assert "v1, 9 images" in imported.output and "1 untagged" in imported.output
    assert [c.num_images for c in list_collections(services)] == [9]

    refused = runner.invoke(main, ["collections", "import-cvat", "--task", "999", "--name", "cli"])
    assert refused.exit_code == 1 and "not found" in refused.output
    both = runner.invoke(main, ["collections", "import-cvat", "--task", "1", "--project", "1", "--name", "x"])
    assert both.exit_code == 2 and "give --task or --project" in both.output
