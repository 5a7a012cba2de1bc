"""The example zips of collections/README.md are what collections/make_examples.py writes, and the folder
stays a plain folder (a `collections` package would shadow the standard library's)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.collections.zips import EXAMPLES

SCRIPT = EXAMPLES.parent / "make_examples.py"


def members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_the_examples_are_those_the_script_writes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], check=True, capture_output=True)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted(path.name for path in EXAMPLES.glob("*.zip"))
    for name in written:  # names, not bytes: JPEG bytes may differ between Pillow builds
        assert members(tmp_path / name) == members(EXAMPLES / name), name


def test_collections_is_no_python_package() -> None:
    assert not (EXAMPLES.parent / "__init__.py").exists()
