"""The gate in front of the API (api/gate.py): the token is checked before a byte of the body is read, and
every route has a body limit, on `cvat-bridge serve` in a subprocess (its memory measured through /proc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_TOKEN, LiveServer
from tests.helpers.server import ServeProcess, raw_request, serve, zeros

BIG = 300 * 1024**2  # a body far larger than the server's whole memory growth allowance below
RSS_ALLOWANCE = 40 * 1024**2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serve(tmp_path_factory.mktemp("gate") / "data") as server:
        yield server


def multipart_stream(total: int, boundary: str = "b0undary") -> Iterator[bytes]:
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n'.encode()
    yield from zeros(total)
    yield f"\r\n--{boundary}--\r\n".encode()


CASES = {
    "json with content-length": ("/api/models", "application/json", False),
    "json chunked": ("/api/models", "application/json", True),
    "collection upload chunked": ("/api/collections", "multipart/form-data; boundary=b0undary", True),
    "predict with content-length": ("/api/models/1/predict", "multipart/form-data; boundary=b0undary", False),
}


@pytest.mark.parametrize("case", CASES)
def test_a_huge_body_without_the_token_is_refused_unread(served: ServeProcess, case: str) -> None:
    path, content_type, chunked = CASES[case]
    headers = {"Content-Type": content_type}
    if not chunked:
        headers["Content-Length"] = str(BIG)
    body = multipart_stream(BIG) if "multipart" in content_type else zeros(BIG)
    served.reset_peak()
    before = served.rss_bytes()

    answer = raw_request(served.port, "POST", path, headers, body, chunked=chunked)

    assert answer.status == 401, answer.head
    assert b"missing API token" in answer.body
    assert served.peak_rss_bytes() - before < RSS_ALLOWANCE
    assert answer.sent < BIG // 2  # the server answered long before the body ended
    assert httpx.get(f"{served.url}/api/health").status_code == 200


def test_invalid_json_without_the_token_is_401_not_422(served: ServeProcess) -> None:
    answer = httpx.post(
        f"{served.url}/api/models", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    wrong = httpx.post(
        f"{served.url}/api/models", content=b"{not json", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong API token"


def test_an_oversized_json_body_with_the_token_is_413(served: ServeProcess) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    padding = "x" * (2 * 1024**2)
    declared = httpx.post(f"{served.url}/api/models", content=f'{{"name": "{padding}"}}', headers=auth)
    assert declared.status_code == 413
    assert "limit of 1048576 bytes" in declared.json()["detail"]

    served.reset_peak()
    before = served.rss_bytes()
    chunked = raw_request(served.port, "POST", "/api/models", auth, zeros(BIG), chunked=True)
    assert chunked.status == 413, chunked.head
    assert served.peak_rss_bytes() - before < RSS_ALLOWANCE
    # a body within the limit goes through to the route
    ok = httpx.post(f"{served.url}/api/models/7/deployment", json={"variant": "cpu"}, headers=auth)
    assert ok.status_code == 409 and "not configured" in ok.json()["detail"]


def test_upload_routes_have_their_own_limits(tmp_path: Path) -> None:
    limit = 2 * 1024**2
    with serve(tmp_path / "data", CVAT_BRIDGE_MAX_UPLOAD_BYTES=str(limit)) as server:
        auth = {
            "Authorization": f"Bearer {API_TOKEN}",
            "Content-Type": "multipart/form-data; boundary=b0undary",
        }
        chunked = raw_request(
            server.port, "POST", "/api/collections", auth, multipart_stream(BIG), chunked=True
        )
        assert chunked.status == 413, chunked.head
        assert chunked.sent < 8 * limit
        # a JSON route's limit is smaller than an upload's: 1.5 MiB is refused on /api/models only
        body = b"{" + b" " * (3 * 1024**2 // 2) + b"}"
        headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
        assert httpx.post(f"{server.url}/api/models", content=body, headers=headers).status_code == 413


def test_health_and_readiness_are_open_and_the_zip_download_checks_its_own_token(
    live_server: LiveServer,
) -> None:
    assert httpx.get(f"{live_server.url}/api/health").json()["status"] == "ok"
    assert httpx.get(f"{live_server.url}/api/health/ready").status_code == 200
    for model_id in ("1", "abc", "99999999999999999999"):
        answer = httpx.get(f"{live_server.url}/api/models/{model_id}/function.zip")
        assert answer.status_code == 401, model_id


def test_every_answer_carries_the_security_headers(live_server: LiveServer) -> None:
    for path in ("/collections", "/static/app.js", "/api/health", "/api/models"):
        headers = httpx.get(f"{live_server.url}{path}").headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
