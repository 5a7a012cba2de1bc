"""model.onnx on ONNX Runtime gives the trained torch model's answer; top-k, tags and thresholds behave."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cvat_bridge.runtime.classifier import top_k
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier, cuda_available
from cvat_bridge.runtime.tags import frame_tag
from cvat_bridge.serving.backends import load_predictor
from tests.helpers.images import image_bytes
from tests.inference.conftest import Trained, sample_images, torch_probabilities


def test_onnx_classifier_matches_the_torch_model(trained: Trained) -> None:
    files = sample_images(trained.classes)
    classifier = OnnxClassifier(trained.model_dir, threads=1)
    onnx = classifier.predict_images([open_image(data) for _, data in files])
    reference = torch_probabilities(trained.model_dir, files)
    assert classifier.classes == trained.classes
    assert onnx.shape == (len(files), len(trained.classes))
    np.testing.assert_allclose(onnx.sum(axis=1), 1.0, atol=1e-5)
    assert (onnx.argmax(axis=1) == reference.argmax(axis=1)).all()
    np.testing.assert_allclose(onnx, reference, atol=1e-4)


def test_the_predictor_serves_model_onnx_with_the_torch_models_answers(trained: Trained) -> None:
    files = sample_images(trained.classes)
    predictor = load_predictor(trained.model_dir, threads=1)
    predictions = predictor.predict([open_image(data) for _, data in files], top_k=3)
    reference = torch_probabilities(trained.model_dir, files)

    assert predictor.backend == ("onnxruntime:cuda" if cuda_available() else "onnxruntime")
    assert [p.label for p in predictions] == [trained.classes[i] for i in reference.argmax(axis=1)]
    for prediction, row in zip(predictions, reference, strict=True):
        assert abs(prediction.confidence - row.max()) < 1e-4
        assert [s.label for s in prediction.top_k] == [trained.classes[i] for i in np.argsort(-row)[:3]]
    on_cpu = load_predictor(trained.model_dir, threads=1, device="cpu")
    assert on_cpu.backend == "onnxruntime"


def test_any_image_mode_and_size_is_read_like_training_does(trained: Trained) -> None:
    predictor = load_predictor(trained.model_dir, threads=1)
    rgb = Image.new("RGB", (300, 90), (200, 40, 40))
    variants = [rgb, rgb.convert("L"), rgb.convert("RGBA"), rgb.convert("P")]
    files = [(f"v{i}.png", image_bytes(image, "PNG")) for i, image in enumerate(variants)]
    predictions = predictor.predict([open_image(data) for _, data in files])
    expected = torch_probabilities(trained.model_dir, files)
    assert [p.label for p in predictions] == [trained.classes[i] for i in expected.argmax(axis=1)]


def test_top_k_is_ordered_and_capped() -> None:
    probabilities = np.array([0.1, 0.6, 0.3], dtype=np.float32)
    assert top_k(probabilities, ["a", "b", "c"], 2) == [("b", np.float32(0.6)), ("c", np.float32(0.3))]
    assert [label for label, _ in top_k(probabilities, ["a", "b", "c"], 10)] == ["b", "c", "a"]


def test_threshold_drops_the_label_but_keeps_the_top_k(trained: Trained) -> None:
    predictor = load_predictor(trained.model_dir, threads=1)
    image = open_image(sample_images(trained.classes, per_class=1)[0][1])
    (sure,) = predictor.predict([image], top_k=2, threshold=0.0)
    (unsure,) = predictor.predict([image], top_k=2, threshold=1.0 + 1e-6)
    assert sure.label == sure.top_k[0].label
    assert unsure.label is None
    assert unsure.top_k == sure.top_k and unsure.confidence == sure.confidence


def test_the_tag_builder_tags_the_top_class_from_the_threshold_on() -> None:
    probabilities = np.array([0.2, 0.5, 0.3], dtype=np.float32)
    classes = ["ants", "bees", "wasps"]

    tag = frame_tag(probabilities, classes, threshold=0.5)  # the threshold itself is reached
    assert (tag.index, tag.label) == (1, "bees") and tag.confidence == np.float32(0.5)
    assert tag.to_nuclio() == {
        "label": "bees",
        "type": "tag",
        "confidence": 0.5,
        "attributes": [{"name": "confidence", "value": "50"}],
    }
    assert frame_tag(probabilities, classes, threshold=0.51) is None
    assert frame_tag(probabilities, classes).label == "bees"  # no threshold: every frame gets its top class
