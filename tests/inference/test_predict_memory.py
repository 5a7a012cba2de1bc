"""/predict's memory bound on `cvat-bridge serve` in a subprocess (its RSS read from /proc): a request's
pixel budget, a per-file byte limit, and images decoded one at a time."""

from __future__ import annotations

import io
from contextlib import AbstractContextManager

import httpx
import pytest
from PIL import Image

from tests.conftest import API_TOKEN
from tests.helpers.server import ServeProcess, serve
from tests.inference.conftest import Trained

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
MB = 1024**2


@pytest.fixture(scope="module")
def bilevel_png() -> bytes:
    """An 8000x8000 1-bit PNG of a few KB: 64 megapixels to decode (the limit per image)."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def serving(trained: Trained, **environment: str) -> AbstractContextManager[ServeProcess]:
    """`serve` on the inference suite's data dir (and database), with these settings."""
    return serve(trained.services.settings.data_dir, **environment)


def _predict(served: ServeProcess, model_id: int, files: list[tuple[str, bytes]]) -> httpx.Response:
    parts = [("file", (name, data, "image/png")) for name, data in files]
    return httpx.post(f"{served.url}/api/models/{model_id}/predict", files=parts, headers=AUTH, timeout=300)


def test_eight_64_megapixel_pngs_are_refused_before_decoding(trained: Trained, bilevel_png: bytes) -> None:
    assert len(bilevel_png) < 64 * 1024
    with serving(trained) as served:
        served.reset_peak()
        before = served.rss_bytes()
        answer = _predict(served, trained.model_id, [(f"{i}.png", bilevel_png) for i in range(8)])
        growth = served.peak_rss_bytes() - before

    assert answer.status_code == 413, answer.text
    assert "512000000 pixels together" in answer.json()["detail"]
    assert "limit of 256000000 per request" in answer.json()["detail"]
    assert growth < 100 * MB


def test_with_a_larger_budget_they_are_served_one_at_a_time(trained: Trained, bilevel_png: bytes) -> None:
    with serving(trained, CVAT_BRIDGE_MAX_PREDICT_PIXELS=str(10**9)) as served:
        warm = _predict(served, trained.model_id, [("warm.png", bilevel_png)])  # loads the model
        assert warm.status_code == 200, warm.text
        served.reset_peak()
        before = served.rss_bytes()
        answer = _predict(served, trained.model_id, [(f"{i}.png", bilevel_png) for i in range(8)])
        growth = served.peak_rss_bytes() - before

    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 8
    # One 64-megapixel image at a time: Pillow holds it as 1 byte per pixel, then 4 as RGB (~320 MB at its
    # peak); all eight decoded at once, as before, took the server past 2 GB.
    assert growth < 450 * MB


def test_a_file_past_the_byte_limit_is_413_naming_it(trained: Trained) -> None:
    noisy = io.BytesIO()
    Image.effect_noise((1200, 1200), 100).convert("RGB").save(noisy, "PNG")
    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, "PNG")

    with serving(trained, CVAT_BRIDGE_MAX_PREDICT_FILE_BYTES=str(MB)) as served:
        files = [("small.png", small.getvalue()), ("noisy.png", noisy.getvalue())]
        answer = _predict(served, trained.model_id, files)

    assert answer.status_code == 413
    assert answer.json()["detail"].startswith("noisy.png: ") and str(MB) in answer.json()["detail"]
