"""The `int8` training setting: a quantized model.int8.onnx, checked at training, served on the CPU, shipped
in the Nuclio function; models trained without it keep the float model only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient

from cvat_bridge.functions.render import load_source, render_function
from cvat_bridge.ingest.store import load_samples
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier, cuda_available
from cvat_bridge.services import Services
from cvat_bridge.serving import get_predictor
from cvat_bridge.training import get_model
from tests.helpers.models import train_tiny_model
from tests.inference.conftest import Trained, sample_images
from tests.inference.test_predict_api import upload


@pytest.fixture(scope="module")
def int8_model(trained: Trained) -> int:
    return train_tiny_model(trained.services, name="tiny-int8", int8=True)


def test_the_int8_model_is_quantized_and_checked_against_the_float_model(
    services: Services, int8_model: int
) -> None:
    model_dir = services.storage.model_dir(int8_model)
    quantized = onnx.load(model_dir / "model.int8.onnx")
    operators = {node.op_type for node in quantized.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators
    assert (model_dir / "model.int8.onnx").stat().st_size < 0.4 * (model_dir / "model.onnx").stat().st_size

    # The metrics' figures are what the two files say on the validation images.
    model = get_model(services, int8_model)
    val = load_samples(services, model.collection_id).samples["val"]
    images = [open_image(path) for path, _ in val]
    int8, float32 = OnnxClassifier(model_dir), OnnxClassifier(model_dir, int8=False)
    assert (int8.int8, float32.int8) == (True, False)
    int8_labels = [int8.classes[i] for i in int8.predict_images(images).argmax(1)]
    float_labels = [float32.classes[i] for i in float32.predict_images(images).argmax(1)]
    accuracy = np.mean([label == truth for label, (_, truth) in zip(int8_labels, val, strict=True)])
    agreement = np.mean([a == b for a, b in zip(int8_labels, float_labels, strict=True)])
    figures = model.metrics["int8"]
    assert figures["accuracy"] == pytest.approx(accuracy, abs=1 / len(val))
    assert figures["agreement"] == pytest.approx(agreement, abs=1 / len(val))
    assert agreement >= 0.9 and accuracy >= model.metrics["accuracy"] - 0.1


def test_the_api_serves_the_int8_model_on_the_cpu(
    services: Services, client: TestClient, int8_model: int
) -> None:
    predictor = get_predictor(services, int8_model)
    assert predictor.backend == ("onnxruntime:cuda" if cuda_available() else "onnxruntime:int8")
    files = sample_images(predictor.classes, per_class=2)
    answer = client.post(f"/api/models/{int8_model}/predict", files=upload(files))
    assert answer.status_code == 200, answer.text
    expected = OnnxClassifier(services.storage.model_dir(int8_model)).predict_images(
        [open_image(data) for _, data in files]
    )
    for prediction, row in zip(answer.json()["predictions"], expected, strict=True):
        assert prediction["label"] == predictor.classes[int(np.argmax(row))]
        assert prediction["confidence"] == pytest.approx(float(row.max()), abs=1e-5)
    assert "model.int8.onnx" in client.get(f"/api/models/{int8_model}").json()["artifacts"]


def test_the_function_ships_the_int8_model_and_a_float_model_has_none(
    services: Services, trained: Trained, int8_model: int, tmp_path: Path
) -> None:
    folder = render_function(load_source(services, int8_model), tmp_path / "int8")
    assert (folder / "model" / "model.int8.onnx").is_file()
    float_folder = render_function(load_source(services, trained.model_id), tmp_path / "float")
    assert not (float_folder / "model" / "model.int8.onnx").exists()
    assert not (trained.model_dir / "model.int8.onnx").exists()  # int8 is off unless asked for


def test_a_failed_quantization_keeps_the_trained_float_model(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise Exception("Incomplete symbolic shape inference")  # what ONNX Runtime raises, bare

    monkeypatch.setattr("trainer.quantize.quantize_int8", broken)
    model_id = train_tiny_model(services, name="tiny-int8-broken", int8=True)  # the job succeeds
    model = get_model(services, model_id)
    assert model.metrics["int8"] == {"error": "int8 quantization failed: Incomplete symbolic shape inference"}
    assert not (services.storage.model_dir(model_id) / "model.int8.onnx").exists()
    assert get_predictor(services, model_id).backend in ("onnxruntime", "onnxruntime:cuda")
