"""A model that learnt nothing is flagged on the Models page, with the baseline it failed to beat."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.services import Services
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_models_page_flags_a_model_that_does_not_beat_the_baseline(page: Page, services: Services) -> None:
    collection_id = make_color_collection(services, per_class=8, name="colours")
    # mobilenet_v3_small at 32 px, one epoch of 16 images: the size warning, whatever the accuracy.
    model = train_model(
        services,
        collection_id=collection_id,
        architecture="mobilenet_v3_small",
        name="tiny-mobilenet",
        settings={**TINY_SETTINGS, "epochs": 1},
    )
    assert model.job.status == "succeeded", model.job.error
    page.goto(f"/models#{model.id}")
    warnings = page.locator("#detail-warnings")
    expect(warnings).to_contain_text("This model may not be useful", timeout=30_000)
    expect(warnings).to_contain_text("image_size 32 is small for mobilenet_v3_small")
    expect(page.locator("#detail-metrics")).to_contain_text("Majority-class baseline")
