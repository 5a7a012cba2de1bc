"""/docs in Chromium with every other host unreachable: Swagger UI comes from the service itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_docs_render_every_operation_offline(page: Page, live_server: LiveServer) -> None:
    own = urlsplit(live_server.url).netloc
    blocked: list[str] = []

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto("/docs")
    paths = page.request.get("/openapi.json").json()["paths"]
    operations = sum(len(methods) for methods in paths.values())
    expect(page.locator(".opblock")).to_have_count(operations, timeout=30_000)
    expect(
        page.locator(".opblock-summary-path", has_text=re.compile(r"/api/models/\{model_id\}/predict\W*$"))
    ).to_have_count(1)
    assert blocked == []
