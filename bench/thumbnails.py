"""Thumbnails: how long the first request of a page of 48 takes (each made from a 1920x1080 JPEG) and the
cached ones after it, through the API (TestClient, one process).

    OMP_NUM_THREADS=1 python bench/thumbnails.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvat_bridge.api.app import create_app  # noqa: E402
from cvat_bridge.services import Services, set_services  # noqa: E402
from tests.collections.zips import upload, write_zip  # noqa: E402
from tests.conftest import API_TOKEN, make_settings  # noqa: E402
from tests.helpers.images import class_image, image_bytes  # noqa: E402

PAGE = 48


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        services = Services(make_settings(root / "data"))
        set_services(services)
        photo = {
            label: class_image(label, 0, size=(480, 270)).resize((1920, 1080)) for label in ("red", "blue")
        }
        files = {
            f"{label}/{label}_{i}.jpg": image_bytes(photo[label].rotate(i))
            for label in photo
            for i in range(PAGE // 2)
        }
        with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
            collection = upload(client, write_zip(root / "photos.zip", files), name="photos").json()
            page = client.get(f"/api/collections/{collection['id']}/images", params={"limit": PAGE}).json()
            for label in ("first request (made)", "cached"):
                times = []
                for item in page["items"]:
                    start = time.perf_counter()
                    assert client.get(item["thumbnail"]).status_code == 200
                    times.append(1000 * (time.perf_counter() - start))
                print(f"{label}: {statistics.median(times):.1f} ms median, {sum(times):.0f} ms for {PAGE}")


if __name__ == "__main__":
    main()
