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


def test_an_unreadable_file_among_good_ones_gets_its_own_error(
    trained: Trained, page: Page, tmp_path: Path
) -> None:
    first, second = _written(sample_images(trained.classes, per_class=1)[:2], tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    files = [first, str(tmp_path / "notes.txt"), second]
    page.goto(f"/inference?model={trained.model_id}")
    expect(page.get_by_label("Model")).to_have_value(str(trained.model_id))
    model_text = page.locator("#model-select option:checked").inner_text()
    page.get_by_label("Images").set_input_files(files)
    page.get_by_role("button", name="Run Inference").click()

    cards = page.locator("figure.result")
    expect(cards).to_have_count(3)
    expect(page.locator("#results-title")).to_have_text(f"Results of {model_text}")
    for index in (0, 2):  # the good images keep their results, in upload order
        expect(cards.nth(index).locator(".predicted-label")).to_have_text(
            re.compile("|".join(trained.classes))
        )
    expect(cards.nth(1)).to_contain_text("notes.txt")
    expect(cards.nth(1)).to_contain_text("Not classified")
    expect(cards.nth(1)).to_contain_text("notes.txt: not a readable image")
    expect(page.locator("#flash")).to_be_hidden()

    # Another model chosen: the results of this one go.
    page.get_by_label("Model").select_option("")
    expect(cards).to_have_count(0)
    expect(page.locator("#results-title")).to_be_hidden()


def test_many_images_are_classified_a_few_at_a_time_and_keep_their_order(
    trained: Trained, page: Page, tmp_path: Path
) -> None:
    images = sample_images(trained.classes, per_class=3)[:9]
    files = _written(images, tmp_path)
    expected = [trained.classes[p.argmax()] for p in torch_probabilities(trained.model_dir, images)]
    events: list[str] = []  # the predict requests as the browser sent and finished them
    predict = re.compile(r"/api/models/\d+/predict$")
    page.on("request", lambda request: predict.search(request.url) and events.append("sent"))
    page.on("requestfinished", lambda request: predict.search(request.url) and events.append("done"))
    page.goto(f"/inference?model={trained.model_id}")
    expect(page.get_by_label("Model")).to_have_value(str(trained.model_id))
    page.get_by_label("Images").set_input_files(files)
    page.get_by_role("button", name="Run Inference").click()

    cards = page.locator("figure.result")
    expect(cards).to_have_count(9)
    expect(page.locator("#results-progress")).to_be_hidden()
    expect(page.get_by_role("button", name="Run Inference")).to_be_enabled()
    assert cards.locator(".predicted-label").all_inner_texts() == expected  # upload order
    assert [card.get_by_role("img").get_attribute("alt") for card in cards.all()] == [n for n, _ in images]
    assert events.count("sent") == 9
    in_flight = [events[: i + 1].count("sent") - events[: i + 1].count("done") for i in range(len(events))]
    assert max(in_flight) == 4  # never one at a time, never all nine at once


def _written(images: list[tuple[str, bytes]], folder: Path) -> list[str]:
    """The images as files in folder; their paths, in order."""
    for name, data in images:
        (folder / name).write_bytes(data)
    return [str(folder / name) for name, _ in images]
