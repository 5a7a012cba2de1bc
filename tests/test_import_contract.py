"""The direction of the dependencies: trainer -> runtime; service -> trainer, runtime; function -> runtime.

`lint-imports` checks the contracts of pyproject.toml (CI runs it too); a copy of the code with a forbidden
import breaks them, so the contracts are not vacuous; and no source line imports across the layers."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cvat_bridge", "trainer", "serverless")
CONTRACTS = (
    "The runtime is the bottom layer: it imports nothing else of the project",
    "The trainer imports nothing of cvat_bridge but the runtime",
    "The Nuclio function imports nothing of the project but the runtime",
    "The service never imports the function source (it renders it as files)",
)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the code in ``root``, with its pyproject.toml (no cache: always a fresh graph)."""
    script = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", script, "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_are_kept() -> None:
    result = lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    for contract in CONTRACTS:
        assert f"{contract} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("cvat_bridge/runtime/tags.py", "from cvat_bridge import db", CONTRACTS[0]),
        ("trainer/engine.py", "from cvat_bridge.serving import predictor", CONTRACTS[1]),
        ("serverless/main.py", "import trainer.artifacts", CONTRACTS[2]),
        ("cvat_bridge/serving/backends.py", "import serverless.main", CONTRACTS[3]),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a") as source:
        source.write(f"\n{line}  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout
    assert [contract for contract in CONTRACTS if f"{contract} BROKEN" in result.stdout] == [broken]


def imports_of(package: str, pattern: str) -> list[str]:
    """``path:line: text`` of every import line in ``package`` whose imported name matches ``pattern``."""
    statement = re.compile(rf"^\s*(from|import)\s+({pattern})\b")
    return [
        f"{path.relative_to(ROOT)}:{number}: {text.strip()}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if statement.match(text)
    ]


def test_no_source_line_imports_across_the_layers() -> None:
    """What `git grep` shows: the service never imports the function, the trainer only the runtime."""
    assert imports_of("cvat_bridge", r"serverless") == []
    assert imports_of("trainer", r"cvat_bridge(?!\.runtime\b)") == []
    assert imports_of("serverless", r"trainer|cvat_bridge(?!\.runtime\b)") == []
    assert imports_of("trainer", r"cvat_bridge\.runtime"), "the trainer reads images through the runtime"
