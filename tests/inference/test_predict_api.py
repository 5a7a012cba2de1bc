"""POST /api/models/{id}/predict: the trained model's answers, in upload order, and clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cvat_bridge.api.app import create_app
from cvat_bridge.services import Services
from tests.conftest import API_TOKEN, LiveServer, make_settings
from tests.helpers.images import class_image, image_bytes
from tests.inference.conftest import Trained, add_model, sample_images, torch_probabilities


def upload(files: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (name, data, "application/octet-stream")) for name, data in files]


def assert_matches_torch(predictions: list[dict], expected: np.ndarray, classes: list[str], k: int) -> None:
    assert len(predictions) == len(expected)
    for prediction, probabilities in zip(predictions, expected, strict=True):
        order = np.argsort(-probabilities)[:k]
        assert prediction["label"] == classes[order[0]]
        assert prediction["confidence"] == pytest.approx(float(probabilities[order[0]]), abs=1e-4)
        assert [score["label"] for score in prediction["top_k"]] == [classes[i] for i in order]
        for score, index in zip(prediction["top_k"], order, strict=True):
            assert score["confidence"] == pytest.approx(float(probabilities[index]), abs=1e-4)


def test_predictions_equal_the_torch_model_in_upload_order(trained: Trained, client: TestClient) -> None:
    frame = class_image("red", 7, size=(640, 480))
    files = [*sample_images(trained.classes), ("frame.jpg", image_bytes(frame))]  # decoded at 1/8 scale
    answer = client.post(f"/api/models/{trained.model_id}/predict", files=upload(files), data={"top_k": "2"})
    assert answer.status_code == 200, answer.text
    expected = torch_probabilities(trained.model_dir, files)
    assert_matches_torch(answer.json()["predictions"], expected, trained.classes, k=2)


def test_threshold_leaves_unsure_images_without_a_label(trained: Trained, client: TestClient) -> None:
    files = sample_images(trained.classes, per_class=1)[:1]
    files.append(("grey.png", image_bytes(Image.new("RGB", (40, 40), (128, 128, 128)), "PNG")))
    confidences = torch_probabilities(trained.model_dir, files).max(axis=1)
    assert confidences[0] != pytest.approx(confidences[1], abs=1e-3)
    threshold = float(confidences.mean())
    answer = client.post(
        f"/api/models/{trained.model_id}/predict", files=upload(files), data={"threshold": str(threshold)}
    )
    predictions = answer.json()["predictions"]
    for prediction, confidence in zip(predictions, confidences, strict=True):
        assert (prediction["label"] is None) == (confidence < threshold)
        assert prediction["top_k"][0]["confidence"] == pytest.approx(float(confidence), abs=1e-4)


def test_unknown_model_is_404(client: TestClient) -> None:
    answer = client.post("/api/models/987654/predict", files=upload([("a.png", b"x")]))
    assert answer.status_code == 404
    assert answer.json() == {"detail": "no model with id 987654"}


@pytest.mark.parametrize("status", ["running", "failed"])
def test_model_not_trained_is_409(trained: Trained, client: TestClient, status: str) -> None:
    model_id = add_model(trained.services, status)
    answer = client.post(f"/api/models/{model_id}/predict", files=upload(sample_images(trained.classes)[:1]))
    assert answer.status_code == 409
    assert f"model {model_id}" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("name", "data"),
    [("notes.txt", b"just some text"), ("broken.jpg", None)],
    ids=["not-an-image", "truncated-jpeg"],
)
def test_unreadable_file_is_422_naming_it(
    trained: Trained, client: TestClient, name: str, data: bytes | None
) -> None:
    good = sample_images(trained.classes, per_class=1)[0]
    data = data if data is not None else good[1][: len(good[1]) // 2]
    answer = client.post(f"/api/models/{trained.model_id}/predict", files=upload([good, (name, data)]))
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith(f"{name}: ")
    assert "object at 0x" not in detail


def test_no_file_is_422(trained: Trained, client: TestClient) -> None:
    answer = client.post(f"/api/models/{trained.model_id}/predict", data={"top_k": "1"})
    assert answer.status_code == 422
    assert "'file'" in answer.json()["detail"]


@pytest.fixture
def limited_client(trained: Trained) -> Iterator[TestClient]:
    """The same data and database, served with small limits."""
    data_dir = trained.services.settings.data_dir
    settings = make_settings(data_dir, max_image_pixels=50 * 50, max_predict_files=3)
    limited = Services(settings)
    with TestClient(create_app(limited), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        yield client
    limited.db.dispose()


def png(name: str, size: tuple[int, int]) -> tuple[str, bytes]:
    return name, image_bytes(Image.new("RGB", size, (200, 40, 40)), "PNG")


def test_too_many_pixels_is_refused_naming_the_file(trained: Trained, limited_client: TestClient) -> None:
    big, small = png("big.png", (60, 60)), png("small.png", (40, 40))
    answer = limited_client.post(f"/api/models/{trained.model_id}/predict", files=upload([small, big]))
    assert answer.status_code in (413, 422)
    assert answer.json()["detail"].startswith("big.png: ")
    assert "2500" in answer.json()["detail"]


def test_too_many_files_is_413(trained: Trained, limited_client: TestClient) -> None:
    files = [png(f"{index}.png", (40, 40)) for index in range(4)]
    answer = limited_client.post(f"/api/models/{trained.model_id}/predict", files=upload(files))
    assert answer.status_code == 413
    assert "at most 3" in answer.json()["detail"]
    answer = limited_client.post(f"/api/models/{trained.model_id}/predict", files=upload(files[:3]))
    assert answer.status_code == 200


def test_twenty_concurrent_requests_are_all_answered_correctly(
    trained: Trained, live_server: LiveServer
) -> None:
    files = sample_images(trained.classes, per_class=10, seed=2000)[:20]
    expected = torch_probabilities(trained.model_dir, files)

    def predict(file: tuple[str, bytes]) -> httpx.Response:
        return httpx.post(
            f"{live_server.url}/api/models/{trained.model_id}/predict",
            files=upload([file]),
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(predict, files))
    assert [answer.status_code for answer in answers] == [200] * 20
    predictions = [answer.json()["predictions"][0] for answer in answers]
    assert_matches_torch(predictions, expected, trained.classes, k=min(5, len(trained.classes)))
