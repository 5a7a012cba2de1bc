"""Multi-label training through the real job path: sigmoid head + BCE, thresholds chosen on cross-fitted train
predictions, the metrics, model.json's mode and thresholds, the ONNX model's sigmoid scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvat_bridge.loops.steps import LoopRequestError, start_loop
from cvat_bridge.runtime.classifier import labels_above
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.multilabel import COLOURS, blocks_image, train_tiny_multilabel_model
from trainer.multilabel import average_precision, best_thresholds, multilabel_metrics


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Services, int]:
    from cvat_bridge.services import set_services
    from tests.conftest import make_settings

    services = Services(make_settings(tmp_path_factory.mktemp("ml") / "data"))
    set_services(services)
    model_id = train_tiny_multilabel_model(services)
    yield services, model_id
    services.db.dispose()
    set_services(None)


def test_multilabel_model_learns_and_reports_its_metrics(trained: tuple[Services, int]) -> None:
    services, model_id = trained
    metrics = get_model(services, model_id).metrics
    assert metrics["mode"] == "multi"
    assert metrics["map"] > 0.9, metrics["map"]
    assert metrics["macro"]["f1"] > 0.8 and metrics["micro"]["f1"] > 0.8
    assert set(metrics["per_label"]) == set(COLOURS)
    row = metrics["per_label"]["red"]
    assert set(row) == {"precision", "recall", "f1", "ap", "support", "threshold", "pr_curve"}
    assert row["support"] > 0 and len(row["pr_curve"]) == 11
    assert 0.0 <= metrics["hamming_loss"] < 0.2 and metrics["subset_accuracy"] > 0.5
    source = "per label, max F1 on cross-fitted train predictions (3 folds), bagged"
    assert metrics["thresholds"]["source"] == source
    assert "confusion_matrix" not in metrics and "accuracy" not in metrics
    changed = ["linear_probe = False", "head_init = random", "flips = on"]
    assert metrics["recipe"]["multilabel"] == [f"multi-label: {note}" for note in changed]
    model_dir = services.storage.model_dir(model_id)
    info = json.loads((model_dir / "model.json").read_text())
    assert info["mode"] == "multi" and info["thresholds"] == metrics["thresholds"]["values"]
    assert (model_dir / "per_class_metrics.png").is_file() and not (
        model_dir / "confusion_matrix.png"
    ).exists()


def test_onnx_model_gives_independent_label_scores(trained: tuple[Services, int], tmp_path) -> None:
    services, model_id = trained
    classifier = OnnxClassifier(services.storage.model_dir(model_id))
    info_thresholds = get_model(services, model_id).metrics["thresholds"]["values"]
    paths = []
    for index, labels in enumerate([("red",), ("green", "blue"), ("red", "green", "blue")]):
        path = tmp_path / f"{index}.png"
        blocks_image(labels, 9000 + index).save(path)
        paths.append(path)
    scores = classifier.predict_images([open_image(path) for path in paths])
    assert scores.shape == (3, 3)
    assert scores[2].sum() > 1.5  # three labels at once: sigmoid scores, not a softmax sharing 1
    thresholds = classifier.label_thresholds
    assert thresholds == [info_thresholds[name] for name in classifier.classes]
    assert not np.allclose(scores.sum(1), 1.0)
    assert len(labels_above(scores[2], thresholds)) >= 2, scores  # several labels for one image


def test_global_threshold_setting_replaces_the_per_label_ones(services: Services) -> None:
    model_id = train_tiny_multilabel_model(services, name="fixed", threshold=0.3, epochs=1)
    metrics = get_model(services, model_id).metrics
    assert metrics["thresholds"] == {
        "source": "the threshold setting",
        "values": dict.fromkeys(sorted(COLOURS), 0.3),
    }


def test_thresholds_maximise_f1_and_metrics_count_by_hand() -> None:
    probabilities = np.array([[0.9, 0.2], [0.6, 0.4], [0.3, 0.35], [0.1, 0.8]])
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    thresholds = best_thresholds(probabilities, targets)
    assert thresholds[0] == pytest.approx(0.45) and thresholds[1] == pytest.approx(0.275)
    logits = np.log(probabilities / (1 - probabilities))
    metrics = multilabel_metrics(logits, targets, ["a", "b"], [0.5, 0.5])
    # at 0.5: predicted a for rows 0,1; b for row 3 -> b misses row 2
    assert metrics["per_label"]["b"]["recall"] == 0.5 and metrics["per_label"]["a"]["f1"] == 1.0
    assert metrics["subset_accuracy"] == 0.75 and metrics["hamming_loss"] == 0.125
    assert metrics["micro"]["precision"] == 1.0 and metrics["micro"]["recall"] == 0.75
    assert metrics["per_label"]["b"]["pr_curve"] == [1.0] * 6 + [2 / 3] * 5  # 2nd positive at rank 3
    assert metrics["map"] == pytest.approx((1.0 + (1.0 + 2 / 3) / 2) / 2)  # b ranks a negative second


def test_average_precision_equals_scikit_learns_with_ties() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        truth = rng.random(50) < 0.3
        truth[0] = True
        scores = np.round(rng.random(50), 1)  # many ties
        assert average_precision(scores, truth) == pytest.approx(average_precision_score(truth, scores))


def test_a_loop_refuses_a_multilabel_model(trained: tuple[Services, int]) -> None:
    services, model_id = trained
    with pytest.raises(LoopRequestError, match="multi-label: the loop's selection strategies"):
        start_loop(services, name="loop", model_id=model_id, project_id=1)  # refused before asking CVAT
