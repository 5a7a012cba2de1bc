"""The Collections page in headless Chromium: upload a zip with progress, see the counts and the report,
delete the collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.collections.zips import class_files, write_zip

pytestmark = pytest.mark.browser


def test_upload_shows_counts_and_report_then_delete(page, live_server, tmp_path: Path) -> None:
    files = {**class_files({"wool": 10, "silk": 5}), "silk/.DS_Store": b"x", "wool/broken.jpg": b"no"}
    zip_path = write_zip(tmp_path / "fabrics.zip", files)
    page.goto("/collections")
    expect(page.get_by_text("No collections yet")).to_be_visible()

    form = page.locator("#upload-form")
    form.get_by_label("Zip file").set_input_files(str(zip_path))
    form.get_by_label("Collection name").fill("fabrics")
    form.get_by_role("button", name="Upload and import").click()

    expect(page.locator("#flash")).to_have_text("Imported “fabrics” v1: 15 images in 2 classes.")
    report = page.locator("#import-report")
    expect(report.locator("tr[data-class=wool] td")).to_have_text(["wool", "7", "3", "10"])
    expect(report.get_by_text("wool/broken.jpg")).to_be_visible()
    expect(report.get_by_text("2 (1 system or hidden files, 1 corrupt or truncated)")).to_be_visible()

    card = page.locator("section.collection").first
    expect(card.locator("h2")).to_contain_text("fabrics v1")
    expect(card.locator("tr[data-class=silk] td")).to_have_text(["silk", "3", "2", "5"])
    expect(card.locator("tfoot td")).to_have_text(["10", "5", "15"])
    # the list holds report summaries; opening the report reads the full one (its skipped files)
    card.get_by_text("Import report").click()
    expect(card.get_by_text("wool/broken.jpg")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No collections yet")).to_be_visible()
    assert list(live_server.services.storage.collections_dir.iterdir()) == []


def test_refused_upload_shows_the_reason(page, tmp_path: Path) -> None:
    zip_path = write_zip(tmp_path / "one.zip", class_files({"wool": 3}))
    page.goto("/collections")
    form = page.locator("#upload-form")
    form.get_by_label("Zip file").set_input_files(str(zip_path))
    form.get_by_label("Collection name").fill("one")
    form.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#flash")).to_contain_text("A collection needs at least 2 classes")


def test_multi_label_upload_merges_identical_files(page, tmp_path: Path) -> None:
    files = class_files({"wool": 4, "silk": 4})
    files["silk/same.jpg"] = files["wool/same.jpg"] = class_files({"blend": 1})["blend/blend_0.jpg"]
    zip_path = write_zip(tmp_path / "fabrics.zip", files)
    page.goto("/collections")
    form = page.locator("#upload-form")
    form.get_by_label("Zip file").set_input_files(str(zip_path))
    form.get_by_label("Collection name").fill("blends")
    form.get_by_label("Labels per image").select_option("multi")
    form.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#flash")).to_have_text("Imported “blends” v1: 9 images in 2 classes.")
    card = page.locator("section.collection").first
    expect(card).to_contain_text("9 images · 2 labels (multi-label)")
