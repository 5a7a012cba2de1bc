"""The Inference page in Chromium: choose a model, upload an image, Run Inference, see class, confidence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.db import Model
from tests.inference.conftest import Trained, sample_images, torch_probabilities

pytestmark = pytest.mark.browser


def test_run_inference_shows_image_class_and_confidence(trained: Trained, page: Page, tmp_path: Path) -> None:
    name, data = sample_images(trained.classes, per_class=1)[1]
    (tmp_path / name).write_bytes(data)
    probabilities = torch_probabilities(trained.model_dir, [(name, data)])[0]
    with trained.services.db.session() as session:
        model_name = session.get(Model, trained.model_id).name

    page.goto("/inference")
    page.get_by_label("Model").select_option(str(trained.model_id))
    expect(page.get_by_label("Model")).to_contain_text(model_name)
    page.get_by_label("Images").set_input_files(str(tmp_path / name))
    page.get_by_role("button", name="Run Inference").click()

    result = page.locator("figure.result")
    expect(result).to_have_count(1)
    expect(result.get_by_role("img", name=name)).to_be_visible()
    assert result.get_by_role("img", name=name).evaluate("img => img.naturalWidth") > 0
    expect(result.locator(".predicted-label")).to_have_text(trained.classes[probabilities.argmax()])
    shown = result.locator(".predicted-confidence")
    expect(shown).to_have_text(re.compile(r"^\d+\.\d%$"))
    assert float(shown.inner_text().rstrip("%")) == pytest.approx(100 * probabilities.max(), abs=0.051)


def test_an_unreadable_file_shows_the_error(trained: Trained, page: Page, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    page.goto(f"/inference?model={trained.model_id}")
    expect(page.get_by_label("Model")).to_have_value(str(trained.model_id))
    page.get_by_label("Images").set_input_files(str(tmp_path / "notes.txt"))
    page.get_by_role("button", name="Run Inference").click()
    expect(page.locator("#flash")).to_contain_text("notes.txt: not a readable image")
    expect(page.locator("figure.result")).to_have_count(0)
