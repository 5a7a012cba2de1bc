"""The API process never loads torch: `cvat-bridge serve` lists the catalogue, validates and queues a
training (with its warnings), and only its worker process loads torch and trains."""

from __future__ import annotations

from pathlib import Path

from tests.collections.zips import example
from tests.conftest import API_TOKEN
from tests.helpers.processes import Service, descendants, wait_until

TORCH_LIBRARY = "libtorch_cpu.so"  # every torch build maps it (the CUDA ones too)


def maps_torch(pid: int) -> bool:
    """Whether the process has torch's library mapped (it has imported torch)."""
    return TORCH_LIBRARY in Path(f"/proc/{pid}/maps").read_text()


def test_serve_answers_catalogue_and_trainings_without_torch(tmp_path: Path) -> None:
    with Service(tmp_path / "data", API_TOKEN, tmp_path / "serve.log", weights_download=0) as served:
        with example("class-folders.zip").open("rb") as upload:
            uploaded = served.client.post(
                "/api/collections", files={"file": upload}, data={"name": "fabrics"}
            )
        assert uploaded.status_code == 201, uploaded.text

        architectures = {entry["name"]: entry for entry in served.client.get("/api/architectures").json()}
        assert architectures["resnet18"]["num_params"] == 11_689_512
        assert architectures["timm/convnext_nano"]["preprocessing"]["interpolation"] == "bicubic"

        body = {"name": "small", "collection_id": uploaded.json()["id"], "architecture": "resnet18"}
        vit = {**body, "architecture": "timm/vit_small_patch16_224", "image_size": 160}
        refused = served.client.post("/api/models", json=vit)
        assert refused.status_code == 422 and "224x224 images only" in refused.text
        settings = {"epochs": 1, "image_size": 32, "pretrained": False, "num_workers": 0}
        created = served.client.post("/api/models", json={**body, **settings})
        assert created.status_code == 202, created.text
        assert "image_size 32 is small for resnet18" in created.json()["warnings"][0]
        assert not maps_torch(served.process.pid)

        def finished() -> dict | None:
            model = served.client.get(f"/api/models/{created.json()['id']}").json()
            return model if model["status"] in ("succeeded", "failed", "cancelled") else None

        model = wait_until(finished, 300, "the training did not finish")
        assert model["status"] == "succeeded", model["error"]
        # It trained in the worker process, which loaded torch; the API process still has not.
        assert any(maps_torch(pid) for pid in descendants(served.process.pid))
        assert not maps_torch(served.process.pid)
