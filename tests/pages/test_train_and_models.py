"""Train and Models pages in Chromium: offline defaults, errors as sentences, the catalogue as one keyboard
widget, useless models flagged in the list, rows updated in place, ids never reused."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.jobs.store import request_cancel
from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_model, train_tiny_model
from trainer.catalogue import catalogue

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_train_page_preselects_weights_that_are_here_and_is_one_radio_group(
    page: Page, services: Services
) -> None:
    make_color_collection(services, per_class=4, name="keys")
    here = [a["name"] for a in catalogue() if a["weights_cached"]]
    page.goto("/train")
    radios = page.locator("#architectures input[type=radio]")
    expect(radios.first).to_be_attached(timeout=60_000)
    checked = page.locator("#architectures input[type=radio]:checked")
    expect(checked).to_have_count(1)
    if here:  # the first architecture whose weights are on this machine, marked "here"
        expect(checked).to_have_value(here[0])
        expect(page.locator(f"#architectures tr[data-name='{here[0]}']")).to_contain_text("✓ here")
        expect(page.locator("#weights-note")).to_be_hidden()
    missing = next(a["name"] for a in catalogue() if not a["weights_cached"])
    expect(page.locator(f"#architectures tr[data-name='{missing}']")).to_contain_text("download needed")

    # Keyboard: one tab stop; arrow keys move the choice; Space does not scroll the page.
    page.locator(f"#architectures tr[data-name='{missing}']").click()
    expect(page.locator("#architecture-details h3")).to_have_text(missing)
    focused = page.evaluate("document.activeElement.value")
    assert focused == missing
    page.keyboard.press("ArrowDown")
    following = page.evaluate("document.activeElement.value")
    assert following != missing
    expect(page.locator("#architecture-details h3")).to_have_text(following)
    scrolled = page.evaluate("window.scrollY")
    page.keyboard.press("Space")
    assert page.evaluate("window.scrollY") == scrolled
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") != "architecture"  # left the catalogue in one Tab

    # Pretrained weights that are missing: said before training, with "train from scratch instead".
    page.locator(f"#architectures tr[data-name='{missing}']").click()
    note = page.locator("#weights-note")
    expect(note).to_contain_text(f"The pretrained weights of {missing} are not on this machine")
    note.get_by_role("button", name="Train from scratch instead").click()
    expect(page.locator("#s-pretrained")).not_to_be_checked()
    expect(note).to_be_hidden()


def test_missing_weights_fail_with_a_sentence_and_offer_training_from_scratch(
    page: Page, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVAT_BRIDGE_WEIGHTS_DOWNLOAD", "0")
    monkeypatch.setenv("TORCH_HOME", str(services.settings.data_dir / "empty-torch-home"))
    collection_id = make_color_collection(services, per_class=4, name="offline")
    settings = {**TINY_SETTINGS, "epochs": 1, "pretrained": True}
    model = train_model(
        services, collection_id=collection_id, architecture="resnet18", name="offline", settings=settings
    )
    assert model.job.status == "failed"
    page.goto(f"/models#{model.id}")
    error = page.locator("#detail-error .error-sentence")
    expect(error).to_have_text(
        re.compile(
            r"^Pretrained weights for resnet18 are not available \(they are not on this machine, and "
            r"downloads are off\): put the file resnet18-f37072fd\.pth .*pretrained: false\.$"
        )
    )
    assert "Error" not in error.inner_text() and "urlopen" not in error.inner_text()
    page.get_by_role("button", name="Train from scratch instead").click()
    page.wait_for_url(re.compile(rf"/models#(?!{model.id}$)\d+$"))
    again = get_model(services, int(page.url.rsplit("#", 1)[1]))
    try:
        assert (again.name, again.version, again.collection_id) == ("offline", 2, collection_id)
        assert again.settings["pretrained"] is False and again.settings["epochs"] == 1
    finally:
        request_cancel(services.db, again.job_id)


def test_models_list_flags_a_useless_model_updates_in_place_and_never_reuses_ids(
    page: Page, services: Services
) -> None:
    collection_id = make_color_collection(services, per_class=8, name="colours")
    useless = train_model(
        services,
        collection_id=collection_id,
        architecture="mobilenet_v3_small",
        name="tiny-mobilenet",
        settings={**TINY_SETTINGS, "epochs": 1},
    )
    good = train_tiny_model(services, name="good", epochs=1)
    page.goto("/models")
    row = page.locator(f"#models-table tbody tr[data-id='{useless.id}']")
    expect(row).to_contain_text("succeeded, may not be useful")
    expect(row.locator(".status-doubtful")).to_have_attribute("title", re.compile("image_size 32 is small"))

    # The list refreshes every few seconds: the focused row stays the same element, focus stays on it.
    row.focus()
    page.evaluate("document.activeElement.dataset.marker = 'still-me'")
    page.wait_for_timeout(6_000)  # past one idle refresh (5 s)
    assert page.evaluate("document.activeElement.dataset.marker") == "still-me"

    # Delete the newest model: the next model gets a new id, and the old link shows nothing.
    page.locator(f"#models-table tbody tr[data-id='{good}']").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-button")
    expect(page.locator(f"#models-table tbody tr[data-id='{good}']")).to_have_count(0)
    newer = train_tiny_model(services, name="newer", epochs=1)
    assert newer > good
    page.goto(f"/models#{good}")
    expect(page.locator(f"#models-table tbody tr[data-id='{newer}']")).to_be_visible()
    expect(page.locator("#model-detail")).to_be_hidden()
