"""Class names that look like markup ($...$ mathtext, braces, carets, unicode, very long) go through the whole
service as they are: zip upload, training, the plots, and predictions."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tests.collections.zips import upload
from tests.helpers.images import class_image, image_bytes
from tests.helpers.models import TINY_SETTINGS
from tests.training.test_api import wait_for

# Class name -> the colour its generated images have.
CLASSES = {
    "$x^$": "red",
    "{braces} 50%": "green",
    "ünïcødé 猫 a^b_c": "blue",
    "$" + "long name " * 15: "yellow",
}


def test_markup_like_class_names_train_plot_and_serve(client: TestClient, tmp_path: Path) -> None:
    zip_path = tmp_path / "odd.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, colour in CLASSES.items():
            for index in range(8):
                archive.writestr(f"{name}/{index}.jpg", image_bytes(class_image(colour, index)))
    collection = upload(client, zip_path, name="odd names")
    assert collection.status_code == 201, collection.text
    assert collection.json()["classes"] == sorted(CLASSES)

    started = client.post(
        "/api/models",
        json={
            "name": "odd",
            "collection_id": collection.json()["id"],
            "architecture": "resnet18",
            **TINY_SETTINGS,
        },
    )
    assert started.status_code == 202, started.text
    model = wait_for(client, started.json()["id"], lambda m: m["status"] in ("succeeded", "failed"))
    assert model["status"] == "succeeded", model["error"]
    assert model["classes"] == sorted(CLASSES) and set(model["metrics"]["per_class"]) == set(CLASSES)
    for png in ("confusion_matrix.png", "training_curves.png", "per_class_metrics.png"):
        answer = client.get(f"/api/models/{model['id']}/artifacts/{png}")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", png
        assert Image.open(io.BytesIO(answer.content)).format == "PNG"

    predicted = client.post(
        f"/api/models/{model['id']}/predict",
        files={"file": ("x.jpg", image_bytes(class_image("red", 999)), "image/jpeg")},
        data={"top_k": "4"},
    )
    assert predicted.status_code == 200, predicted.text
    [prediction] = predicted.json()["predictions"]
    assert {item["label"] for item in prediction["top_k"]} == set(CLASSES)
