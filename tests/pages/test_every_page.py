"""Every page, with a collection and a trained model to show: no WCAG 2.1 AA violation (axe-core) on a desktop
and at 390x844, where nothing scrolls sideways (tables scroll inside their cards, which take the keyboard
focus) and the API token button is on screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.services import Services
from cvat_bridge.web.pages import LINKED_PAGES, PAGES
from tests.helpers.models import train_tiny_model
from tests.helpers.pages import PHONE, axe_violations, install_axe, sideways_overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def trained(services: Services) -> int:
    return train_tiny_model(services, name="every-page")


def _views(model_id: int) -> list[tuple[str, str]]:
    """(path, what shows that its data is loaded) of every page: the navigation's (the Models page with a
    model selected) and the linked ones (a collection's page, a comparison)."""
    ready = {
        "/collections": "section.collection",
        "/train": "#architectures input[type=radio]:checked",
        "/models": "#detail-metrics",
        "/inference": f"#model-select option[value='{model_id}']",
        "/loops": f"#loop-model option[value='{model_id}']",
    }
    views = [(f"/models#{model_id}" if path == "/models" else path, ready[path]) for path in PAGES]
    linked = [
        ("/collections/1", "#image-grid figure.thumb"),
        (f"/compare?a={model_id}&b={model_id}", "#compare-metrics"),
    ]
    assert len(linked) == len(LINKED_PAGES)
    return views + linked


def test_every_page_passes_axe_at_wcag_21_aa(page: Page, trained: int) -> None:
    install_axe(page)
    for path, ready in _views(trained):
        page.goto(path)
        expect(page.locator(ready).first).to_be_attached(timeout=60_000)
        assert axe_violations(page) == [], path
    # axe does run: an image without a text alternative is found
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert any(violation.startswith("image-alt") for violation in axe_violations(page))


def test_no_page_scrolls_sideways_on_a_phone(page: Page, trained: int) -> None:
    page.set_viewport_size(PHONE)
    install_axe(page)
    for path, ready in _views(trained):
        page.goto(path)
        expect(page.locator(ready).first).to_be_attached(timeout=60_000)
        assert sideways_overflow(page) <= 0, path
        assert axe_violations(page) == [], path  # the phone layout is checked by axe too
        box = page.locator("#token-button").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (path, box)
