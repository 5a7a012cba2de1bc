"""`cvat-bridge predict MODEL IMAGE... [--top-k K]`: one line per image."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cvat_bridge.cli import main
from cvat_bridge.db import Model
from tests.inference.conftest import Trained, sample_images, torch_probabilities


def write_files(folder: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    paths = []
    for name, data in files:
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def test_prints_class_confidence_and_top_k_per_image(trained: Trained, services, tmp_path: Path) -> None:
    files = sample_images(trained.classes, per_class=1)
    paths = write_files(tmp_path, files)
    result = CliRunner().invoke(main, ["predict", str(trained.model_id), *map(str, paths), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    expected = torch_probabilities(trained.model_dir, files)
    assert len(lines) == len(paths)
    for line, path, probabilities in zip(lines, paths, expected, strict=True):
        name, label, confidence, ranked = line.split("\t")
        assert name == str(path)
        assert label == trained.classes[probabilities.argmax()]
        assert abs(float(confidence) - probabilities.max()) < 1e-3
        assert len(ranked.split(", ")) == 2


def test_model_by_name_and_bad_images_reported(trained: Trained, services, tmp_path: Path) -> None:
    with services.db.session() as session:
        name = session.get(Model, trained.model_id).name
    good, bad = write_files(tmp_path, [sample_images(trained.classes, per_class=1)[0], ("bad.jpg", b"nope")])
    result = CliRunner().invoke(main, ["predict", name, str(bad), str(good)])
    assert result.exit_code == 1
    assert f"error: {bad}: not a readable image" in result.stderr
    assert result.stdout.startswith(f"{good}\t")


def test_unknown_model_fails_with_a_message(services, tmp_path: Path) -> None:
    (path,) = write_files(tmp_path, [("a.jpg", b"x")])
    result = CliRunner().invoke(main, ["predict", "424242", str(path)])
    assert result.exit_code == 1
    assert "no model with id 424242" in result.output
