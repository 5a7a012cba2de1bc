"""`cvat-bridge collections import|list|show|delete` on the settings' data dir, and a crash midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.ingest.store import list_collections
from cvat_bridge.services import Services
from tests.collections.zips import class_files, jpeg, leftovers, write_zip


def test_import_list_show_delete(services: Services, tmp_path: Path) -> None:
    files = {**class_files({"wool": 10, "silk": 4}), "wool/x.txt": b"x"}
    zip_path = write_zip(tmp_path / "fabrics.zip", files)
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["collections", "import", str(zip_path), "--name", "fabrics", "--val-ratio", "0.5", "--seed", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "collection 1: fabrics v1, 14 images" in result.output
    assert "silk                           2       2" in result.output
    assert "wool                           5       5" in result.output
    assert "wool/x.txt: not an image file" in result.output

    listed = runner.invoke(main, ["collections", "list"])
    assert "   1  fabrics v1  14 images" in listed.output
    assert '"num_images": 14' in runner.invoke(main, ["collections", "show", "1"]).output

    refused = runner.invoke(main, ["collections", "import", str(zip_path), "--name", "x", "--val-ratio", "2"])
    assert refused.exit_code == 1 and "Error: val_ratio must be between 0 and 1" in refused.output
    assert runner.invoke(main, ["collections", "delete", "1"]).output == "deleted collection 1\n"
    assert "no collections yet" in runner.invoke(main, ["collections", "list"]).output
    assert leftovers(services) == (0, [], [])


def test_a_crash_midway_leaves_no_collection_visible(services: Services, tmp_path: Path) -> None:
    photos = {label: [jpeg(label, i) for i in range(20)] for label in ("wool", "silk")}
    many = {f"{label}/{i}.jpg": photos[label][i % 20] for label in photos for i in range(3000)}
    zip_path = write_zip(tmp_path / "many.zip", many, compression=zipfile.ZIP_STORED)
    env = {**os.environ, "CVAT_BRIDGE_DATA_DIR": str(services.storage.root)}
    command = [sys.executable, "-m", "cvat_bridge", "collections", "import", str(zip_path), "--name", "crash"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(services.storage.staging_dir.glob("zip-*/*/*.jpg"))) < 100:  # extracting now
        assert process.poll() is None and time.monotonic() < deadline, "the import ended before it was killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list_collections(services) == []
    assert list(services.storage.collections_dir.iterdir()) == []
    small = write_zip(tmp_path / "small.zip", class_files({"wool": 3, "silk": 3}))
    result = CliRunner().invoke(main, ["collections", "import", str(small), "--name", "crash"])
    assert "crash v1, 6 images" in result.output  # the killed import registered nothing, not even a version
