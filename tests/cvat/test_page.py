"""The Collections page's "Import from CVAT", driven in headless Chromium against the CVAT stand-in."""

from __future__ import annotations

import pytest

from tests.cvat.conftest import frames
from tests.standins.cvat import CvatStandin


@pytest.mark.browser
def test_import_a_cvat_task_from_the_collections_page(page, cvat: CvatStandin) -> None:
    labels = ["red", "green"] * 4
    cvat.add_task(
        "shelf photos",
        frames(labels),
        labels=["red", "green"],
        tags={i: [label] for i, label in enumerate(labels) if i != 3},
    )
    project = cvat.add_project("birds", ["owl", "tit"])
    cvat.add_task("b1", frames(["red"]), project_id=project)

    page.goto("/collections")
    section = page.locator("#cvat-import")
    section.locator("#cvat-import-form").wait_for()  # shown once the tasks and projects are listed
    assert "signed in as admin" in section.locator("#cvat-status").inner_text()
    assert "#1 shelf photos (8 frames; green, red)" in section.locator("#cvat-source").inner_text()
    page.select_option("#cvat-source", "1")
    assert page.locator("#cvat-name").input_value() == "shelf photos"  # suggested from the task
    page.select_option("#cvat-kind", "project")
    assert "#1 birds (1 tasks, 1 frames; owl, tit)" in section.locator("#cvat-source").inner_text()
    page.select_option("#cvat-kind", "task")
    page.select_option("#cvat-source", "1")

    page.fill("#cvat-name", "shelf")
    page.click("#cvat-import-button")
    result = section.locator("#cvat-import-result")
    result.get_by_text("Imported shelf v1: 7 images").wait_for(timeout=60_000)
    assert "1 untagged" in result.inner_text()


@pytest.mark.browser
def test_page_says_when_cvat_refuses_the_credentials(page, cvat: CvatStandin) -> None:
    cvat.password = "changed"  # the service still uses the old one
    page.goto("/collections")
    page.locator("#cvat-status").get_by_text("refused user 'admin'").wait_for()
    assert page.locator("#cvat-import-form").is_hidden()
