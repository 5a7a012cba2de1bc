"""A multi-label model served: the predict API answers every label above its threshold plus top_k, and
`cvat-bridge predict` prints them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from cvat_bridge.cli import main
from cvat_bridge.runtime.classifier import labels_above
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from tests.helpers.images import image_bytes
from tests.helpers.multilabel import blocks_image, train_tiny_multilabel_model


def test_predict_api_and_cli_list_every_label_above_its_threshold(
    services: Services, client: TestClient, tmp_path: Path
) -> None:
    model_id = train_tiny_multilabel_model(services, epochs=3)
    plan = [("red",), ("green", "blue"), ("red", "green", "blue")]
    paths = []
    for index, labels in enumerate(plan):
        paths.append(tmp_path / f"img{index}.png")
        paths[-1].write_bytes(image_bytes(blocks_image(labels, 7000 + index), "PNG"))
    classifier = OnnxClassifier(services.storage.model_dir(model_id))
    scores = classifier.predict_images([open_image(path) for path in paths])
    expected = [
        [classifier.classes[i] for i in labels_above(row, classifier.label_thresholds)] for row in scores
    ]

    files = [("file", (path.name, path.read_bytes(), "image/png")) for path in paths]
    answer = client.post(f"/api/models/{model_id}/predict", files=files, data={"top_k": "3"})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    for prediction, labels, row in zip(predictions, expected, scores, strict=True):
        assert set(prediction) == {"labels", "top_k"}
        assert [item["label"] for item in prediction["labels"]] == labels  # best first
        assert len(prediction["top_k"]) == 3
        assert abs(prediction["top_k"][0]["confidence"] - row.max()) < 1e-5
    assert any(len(labels) >= 2 for labels in expected)

    result = CliRunner().invoke(main, ["predict", str(model_id), *map(str, paths), "--top-k", "3"])
    assert result.exit_code == 0, result.output
    for line, labels in zip(result.stdout.strip().splitlines(), expected, strict=True):
        name, chosen, ranked = line.split("\t")
        assert [item.rsplit(" ", 1)[0] for item in chosen.split(", ")] == (labels or ["-"])
        assert len(ranked.split(", ")) == 3
