"""The service shell: health without a token, every other /api route behind it, token generation, pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.services import Services
from cvat_bridge.settings import Settings


def test_health_needs_no_token(services: Services) -> None:
    with TestClient(create_app(services)) as anonymous:
        assert anonymous.get("/api/health").json()["status"] == "ok"


def test_api_routes_need_the_token(services: Services) -> None:
    app = create_app(services)
    guarded = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        # open by design: health; CVAT's webhook deliveries are checked by signature (tests/loops)
        if path.startswith("/api") and path not in ("/api/health", "/api/health/ready", "/api/loops/webhook")
    ]
    assert guarded, "the API has routes"
    with TestClient(app) as anonymous:
        for method, path in guarded:
            concrete = path.replace("{", "").replace("}", "")  # e.g. /api/jobs/job_id: 401 before any lookup
            assert anonymous.request(method, concrete).status_code == 401, path
            wrong = anonymous.request(method, concrete, headers={"Authorization": "Bearer nope"})
            # "wrong API token"; routes with a token of their own (thumbnails) name both tokens
            assert wrong.status_code == 401 and "wrong" in wrong.json()["detail"], path


def test_token_is_generated_once_and_kept(tmp_path) -> None:
    services = Services(Settings(data_dir=tmp_path / "data"))
    first = create_app(services).state.api_token
    token_file = services.storage.token_file
    assert token_file.read_text().strip() == first
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert create_app(Services(Settings(data_dir=tmp_path / "data"))).state.api_token == first
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {first}"}) as client:
        assert client.get("/api/jobs/unknown").status_code == 404


def test_unknown_job_is_404(client: TestClient) -> None:
    response = client.get("/api/jobs/does-not-exist")
    assert response.status_code == 404
    assert "does-not-exist" in response.json()["detail"]


def test_pages_share_the_navigation(client: TestClient) -> None:
    for path in ("/collections", "/train", "/models", "/inference"):
        html = client.get(path).text
        for link in ('href="/collections"', 'href="/train"', 'href="/models"', 'href="/inference"'):
            assert link in html, (path, link)


def test_start_sweeps_only_old_staging_leftovers(services: Services) -> None:
    import os
    import time

    old = services.storage.new_staging_dir("crashed-")
    (old / "half.jpg").write_bytes(b"partial")
    a_day_ago = time.time() - 24 * 3600
    os.utime(old, (a_day_ago, a_day_ago))
    fresh = services.storage.new_staging_dir("in-progress-")
    with TestClient(create_app(services)):
        assert not old.exists()
        assert fresh.exists()
