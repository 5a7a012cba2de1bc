"""An image size far below the architecture's own is warned about before the training runs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cvat_bridge.services import Services
from tests.helpers.models import make_color_collection


def test_post_models_warns_about_a_small_image_size(client: TestClient, services: Services) -> None:
    collection_id = make_color_collection(services, per_class=4)
    body = {"name": "small", "collection_id": collection_id, "pretrained": False, "epochs": 1}
    small = client.post("/api/models", json={**body, "architecture": "mobilenet_v3_small", "image_size": 32})
    assert small.status_code == 202, small.text
    assert small.json()["warnings"] == [
        "image_size 32 is small for mobilenet_v3_small (built for 224 px): its last layers see 1x1 pixels, "
        "and it may learn little; 56 px or more is safer"
    ]
    fine = client.post("/api/models", json={**body, "architecture": "resnet18", "image_size": 64})
    assert fine.status_code == 202 and fine.json()["warnings"] == []
