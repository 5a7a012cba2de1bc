"""The pages work under their Content-Security-Policy: headless Chromium reports no violation on any page."""

from __future__ import annotations

import pytest

from cvat_bridge.web.pages import PAGES

pytestmark = pytest.mark.browser


def test_no_page_breaks_the_content_security_policy(page) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    for path in PAGES:
        response = page.goto(path)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof api") == "function", path  # the scripts ran
    assert violations == []
