"""`cvat-bridge predict MODEL IMAGE|FOLDER... [--top-k K] [--labels-from-folders]`: one line per image, then a
summary."""

from __future__ import annotations

import re
from collections import Counter
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
    lines = result.stdout.strip().splitlines()
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


def test_folders_are_searched_for_images_and_summarised(trained: Trained, services, tmp_path: Path) -> None:
    """A tree of class folders: every image under it predicted, other files skipped and counted, the summary
    counts the predicted classes and, with --labels-from-folders, scores them against the folder names."""
    root = tmp_path / "photos"
    expected_labels = {}
    for index, (name, data) in enumerate(sample_images(trained.classes, per_class=3, seed=1300)):
        label = name.split("_")[0]
        folder = root / label / ("deeper" if index % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        expected_labels[str(folder / name)] = label
    (root / "notes.txt").write_text("not an image")
    (root / "red" / "Thumbs.db").write_bytes(b"x")
    (root / "unknown-class").mkdir()
    (root / "unknown-class" / "other.jpg").write_bytes(sample_images(trained.classes, 1, seed=77)[0][1])

    result = CliRunner().invoke(main, ["predict", str(trained.model_id), str(root), "--labels-from-folders"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert {name for name, *_ in lines} == {*expected_labels, str(root / "unknown-class" / "other.jpg")}
    predicted = {name: label for name, label, *_ in lines}

    assert f"{len(lines)} images, 2 non-image files skipped" in result.stderr
    for label, count in Counter(predicted.values()).items():
        assert re.search(rf"^{label}\s+{count}$", result.stderr, re.MULTILINE), result.stderr
    assert "1 images in folders not named after a class of the model" in result.stderr
    correct = sum(predicted[name] == label for name, label in expected_labels.items())
    total = len(expected_labels)
    assert f"accuracy {correct / total:.1%} ({correct}/{total})" in result.stderr
    for label in trained.classes:
        mine = [name for name, truth in expected_labels.items() if truth == label]
        hits = sum(predicted[name] == label for name in mine)
        assert re.search(rf"^{label}\s+{hits / len(mine):.1%}\s+{hits}/{len(mine)}$", result.stderr, re.M)
