"""The collection page in Chromium: its images as server-made thumbnails by split and class, a page at a time,
and the skipped and duplicate files of its import report as pictures with their reason."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from cvat_bridge.api.app import create_app
from cvat_bridge.services import Services
from tests.collections.zips import upload, write_zip
from tests.conftest import API_TOKEN
from tests.helpers.images import class_image, image_bytes

pytestmark = [pytest.mark.browser]


def _loaded_sizes(page: Page, selector: str) -> list[list[int]]:
    """The natural sizes of the pictures the browser shows there, once each has loaded (or failed: 0x0)."""
    script = "(images) => images.map((i) => i.complete ? [i.naturalWidth, i.naturalHeight] : null)"
    deadline = time.monotonic() + 30
    while None in (sizes := page.eval_on_selector_all(selector, script)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return sizes


def test_collection_page_shows_its_images_and_report_files(
    page: Page, services: Services, tmp_path: Path
) -> None:
    files = {
        f"{label}/{label}_{i}.jpg": image_bytes(class_image(label, i, size=(320, 240)))
        for label, count in (("red", 35), ("blue", 24))
        for i in range(count)
    }
    files["red/copy_of_red_0.jpg"] = files["red/red_0.jpg"]
    files["blue/old.gif"] = image_bytes(class_image("blue", 99, size=(200, 100)), "GIF")
    files["blue/broken.jpg"] = b"\xff\xd8 not a jpeg"
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        collection = upload(client, write_zip(tmp_path / "c.zip", files), name="shapes").json()
    cid = collection["id"]

    console = []  # the Content-Security-Policy holds: uPlot and the pages' scripts break none of it
    page.on("console", lambda message: console.append(message.text))
    page.goto("/collections")
    page.locator(f"section.collection[data-collection-id='{cid}'] a.collection-link").click()
    page.wait_for_url(f"**/collections/{cid}")
    expect(page.locator("#collection-title")).to_have_text("shapes v1")
    expect(page.locator("#collection-summary")).to_contain_text("60 images · 2 classes")
    expect(page.locator("#image-range")).to_have_text("Images 1–48 of 60")
    assert _loaded_sizes(page, "#image-grid img") == [[192, 144]] * 48  # thumbnails, not the 320x240 files
    sources = page.eval_on_selector_all("#image-grid img", "(images) => images.map((i) => i.src)")
    assert all(re.search(r"/api/thumbnails/\d+/\d+\?token=\w+$", src) for src in sources)
    page.click("#next-page")
    expect(page.locator("#image-range")).to_have_text("Images 49–60 of 60")
    expect(page.locator("#image-grid figure")).to_have_count(12)
    expect(page.locator("#next-page")).to_be_disabled()

    val_red = collection["splits"]["val"]["red"]
    page.click("#counts-table button[data-class='red'][data-split='val']")  # a count in the table
    expect(page.locator("#image-range")).to_have_text(f"Images 1–{val_red} of {val_red}")
    expect(page.locator("#class-filter")).to_have_value("red")
    page.select_option("#class-filter", "blue")  # or the filters
    val_blue = collection["splits"]["val"]["blue"]
    expect(page.locator("#image-range")).to_have_text(f"Images 1–{val_blue} of {val_blue}")
    captions = page.locator("#image-grid figcaption")
    expect(captions).to_have_count(val_blue)
    for caption in captions.all_inner_texts():
        assert "blue · val · 320×240" in caption

    gif = page.locator("#skipped-files figure[data-kind='unsupported_format']")
    expect(gif).to_contain_text("blue/old.gif")
    expect(gif).to_contain_text("GIF images are not supported")
    assert _loaded_sizes(page, "#skipped-files figure[data-kind='unsupported_format'] img") == [[192, 96]]
    broken = page.locator("#skipped-files figure[data-kind='corrupt']")
    expect(broken).to_contain_text("blue/broken.jpg")
    expect(broken.locator(".no-thumb")).to_have_text("no picture")

    group = page.locator("#duplicate-groups .duplicate-group")
    expect(group).to_have_count(1)
    expect(group).to_contain_text("2 identical files")
    assert _loaded_sizes(page, "#duplicate-groups img") == [[192, 144]] * 2

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the page's own content fits its width
    for section in page.locator("main section").all():
        assert section.evaluate("(node) => node.scrollWidth <= node.clientWidth")
    assert not [text for text in console if "Content Security Policy" in text]
