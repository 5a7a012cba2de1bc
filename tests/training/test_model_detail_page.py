"""The model page in Chromium after real trainings: the collection and settings, charts with epoch 0 and the
step losses, a confusion-matrix cell's images, the most confident mistakes, the Try it link, the curl line
that works, and two models compared side by side."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.ingest.store import ImportedImage, register_collection
from cvat_bridge.services import Services
from tests.conftest import API_TOKEN
from tests.helpers.images import class_image, image_bytes
from tests.helpers.models import TINY_SETTINGS, train_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MISLABELLED = 3  # red pictures filed under "blue" in val: the model's confident mistakes


def _collection_with_label_errors(services: Services) -> int:
    staging = services.storage.new_staging_dir("test-collection-")
    images = []

    def add(relative: str, colour: str, label: str, seed: int, split: str | None) -> None:
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        data = image_bytes(class_image(colour, seed, (40, 32)))
        (staging / relative).write_bytes(data)
        images.append(ImportedImage(relative, label, split, hashlib.sha256(data).hexdigest(), 40, 32))

    for label in ("red", "green", "blue"):
        for index in range(14):
            add(f"{label}/{label}_{index}.jpg", label, label, index, None)
    for index in range(MISLABELLED):
        add(f"blue/looks_red_{index}.jpg", "red", "blue", 1000 + index, "val")
    return register_collection(
        services,
        name="label-errors",
        source="zip",
        staging_dir=staging,
        images=images,
        report={},
        provenance={},
    ).id


def _loaded(page: Page, selector: str) -> list[int]:
    """naturalWidth of each picture there once all have loaded (0: failed)."""
    script = "(images) => images.map((i) => i.complete ? i.naturalWidth : null)"
    deadline = time.monotonic() + 30
    while None in (widths := page.eval_on_selector_all(selector, script)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return widths


def test_model_page_context_charts_mistakes_and_comparison(
    page: Page, services: Services, tmp_path: Path
) -> None:
    collection_id = _collection_with_label_errors(services)
    settings = {**TINY_SETTINGS, "epochs": 2, "pretrained": True}  # pretrained: the probe head is epoch 0
    probed = train_model(
        services, collection_id=collection_id, architecture="timm/tf_efficientnet_lite0", name="probed",
        settings=settings,
    )  # fmt: skip
    scratch = train_model(
        services, collection_id=collection_id, architecture="resnet18", name="scratch", settings=TINY_SETTINGS
    )
    assert probed.job.status == scratch.job.status == "succeeded", (probed.job.error, scratch.job.error)
    metrics = probed.metrics
    console = []  # the Content-Security-Policy holds: uPlot and the pages' scripts break none of it
    page.on("console", lambda message: console.append(message.text))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/models#{probed.id}")
    expect(page.locator("#detail-status")).to_have_text("succeeded", timeout=30_000)

    # Context: the collection (linked) and every setting.
    link = page.locator("#detail-collection a")
    expect(link).to_have_text("label-errors v1")
    expect(link).to_have_attribute("href", f"/collections/{collection_id}")
    page.click("#detail-settings summary")
    for key, value in probed.settings.items():
        row = page.locator("#detail-settings tr").filter(
            has=page.get_by_role("rowheader", name=key, exact=True)
        )
        text = row.locator("td").inner_text()
        if value is None or isinstance(value, bool | str):
            assert text == (
                "automatic" if value is None else str(value).lower() if value in (True, False) else value
            )
        else:
            assert float(text) == value, key

    # Charts: epoch 0 plotted, the step losses, values under the cursor.
    loss_chart = page.locator("#training-charts figure.chart").first
    expect(loss_chart.locator(".u-legend")).to_contain_text("train loss (per step)")
    xs = loss_chart.evaluate("(figure) => figure.plot.data[0]")
    assert xs[0] == 0 and 1 in xs and 2 in xs
    assert len(xs) > 3  # step points between the epochs
    x0 = loss_chart.evaluate("(figure) => figure.plot.valToPos(0, 'x')")
    loss_chart.locator(".u-over").hover(position={"x": x0 + 2, "y": 40})
    values = loss_chart.locator(".u-legend .u-value")
    expect(values.first).to_have_text("0")
    expect(values.nth(2)).to_have_text(f"{metrics['probe_head']['val_loss']:.4f}")  # validation loss at 0

    # A confusion-matrix cell: its validation images with their confidence.
    labels, matrix = metrics["confusion_matrix"]["labels"], metrics["confusion_matrix"]["matrix"]
    true_i, predicted_i = labels.index("blue"), labels.index("red")
    mistakes_in_cell = matrix[true_i][predicted_i]
    assert mistakes_in_cell >= 1  # the red pictures labelled blue
    page.click("#confusion-matrix button[data-true='blue'][data-predicted='red']")
    cell = page.locator("#cell-images figure.thumb")
    expect(cell).to_have_count(mistakes_in_cell)
    expect(cell.first).to_contain_text("true blue → red")
    expect(cell.first).to_contain_text(re.compile(r"confidence \d+\.\d%"))
    assert all(width > 0 for width in _loaded(page, "#cell-images img"))

    # The most confident mistakes, surest first.
    strip = page.locator("#confident-mistakes figure.thumb")
    expect(strip).to_have_count(min(24, metrics["total"] - metrics["correct"]))
    shown = [float(text.split()[-1].rstrip("%")) for text in strip.locator(".confidence").all_inner_texts()]
    assert shown == sorted(shown, reverse=True)

    # The curl line works as shown; the CLI line names the model; Copy copies.
    curl = page.locator("#curl-line").inner_text()
    (tmp_path / "image.jpg").write_bytes(image_bytes(class_image("green", 7, (40, 32))))
    answer = subprocess.run(
        ["bash", "-c", curl],
        cwd=tmp_path,
        env={**os.environ, "TOKEN": API_TOKEN},
        capture_output=True,
        text=True,
    )
    assert '"label":"green"' in answer.stdout.replace(" ", ""), answer
    expect(page.locator("#cli-line")).to_have_text(f"cvat-bridge predict {probed.id} image.jpg")
    page.locator("#curl-line + button").click()
    assert page.evaluate("navigator.clipboard.readText()") == curl

    # Try it: the Inference page with this model chosen.
    page.click("#try-it")
    expect(page.locator("#model-select")).to_have_value(str(probed.id))

    # Two models side by side.
    page.goto(f"/compare?a={probed.id}&b={scratch.id}")
    table = page.locator("#compare-metrics")
    expect(table.locator("thead")).to_contain_text("A: probed v1")
    expect(table.locator("thead")).to_contain_text("B: scratch v1")
    accuracy = table.locator("tr", has_text="Validation accuracy")
    expect(accuracy).to_contain_text(f"{100 * metrics['accuracy']:.1f}%")
    expect(accuracy).to_contain_text(f"{100 * scratch.metrics['accuracy']:.1f}%")
    expect(table.locator("tr", has_text="setting: pretrained")).to_contain_text("true")
    f1 = page.locator("#compare-f1 tbody tr")
    expect(f1).to_have_count(3)
    expect(f1.filter(has_text="green")).to_contain_text(f"{100 * metrics['per_class']['green']['f1']:.1f}%")
    curves = page.locator("#compare-curves figure.chart")
    expect(curves).to_have_count(2)
    expect(curves.first.locator(".u-legend")).to_contain_text("scratch v1")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the comparison scrolls inside its tables
    for section in page.locator("main section").all():
        assert section.evaluate("(node) => node.scrollWidth <= node.clientWidth")
    assert not [text for text in console if "Content Security Policy" in text]
