"""Multi-label in Chromium: the Train page's Mode lists multi-label collections, the Models page shows mAP and
a per-label table, the Inference page lists every label above its threshold."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.runtime.classifier import labels_above
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.images import image_bytes
from tests.helpers.models import make_color_collection
from tests.helpers.multilabel import blocks_image, train_tiny_multilabel_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_multilabel_on_the_train_models_and_inference_pages(
    page: Page, services: Services, tmp_path: Path
) -> None:
    model_id = train_tiny_multilabel_model(services, name="ml-pages", epochs=3)
    make_color_collection(services, per_class=4, name="single-colours")

    page.goto("/train")
    expect(page.locator("#collection-select option")).to_have_text(
        ["single-colours v1 (12 images, 3 classes)"]
    )
    page.locator("#advanced summary").click()
    expect(page.locator("#s-threshold-folds")).to_be_hidden()  # multi-label settings: in that mode only
    expect(page.locator("#s-int8")).to_be_visible()
    page.select_option("#mode-select", "multi")
    expect(page.locator("#s-threshold-folds")).to_be_visible()
    expect(page.locator("#s-threshold-folds")).to_have_value("3")
    expect(page.locator("#s-int8")).to_be_hidden()
    expect(page.locator("#collection-select option")).to_have_count(1)
    expect(page.locator("#collection-select option")).to_contain_text("ml-pages-data v1")

    metrics = get_model(services, model_id).metrics
    page.goto(f"/models#{model_id}")
    expect(page.locator(f"#models-table tbody tr[data-id='{model_id}']")).to_contain_text("mAP")
    facts = page.locator("#detail-metrics")
    expect(facts).to_contain_text(f"{100 * metrics['map']:.1f}%")
    expect(facts).to_contain_text("Hamming loss")
    expect(page.locator("#per-label tbody tr")).to_have_count(3)
    pr_chart = page.locator("figure[aria-label='Precision–recall (validation)']")
    for label in ("red", "green", "blue"):
        expect(pr_chart.locator(".u-legend")).to_contain_text(label)
    red = metrics["per_label"]["red"]
    expect(page.locator("#per-label tbody tr").filter(has_text="red")).to_contain_text(
        f"{red['threshold']:.3f}"
    )

    path = tmp_path / "three.png"
    path.write_bytes(image_bytes(blocks_image(("red", "green", "blue"), 4242), "PNG"))
    classifier = OnnxClassifier(services.storage.model_dir(model_id))
    row = classifier.predict_images([open_image(path)])[0]
    expected = [classifier.classes[i] for i in labels_above(row, classifier.label_thresholds)]
    page.goto("/inference")
    page.get_by_label("Model").select_option(str(model_id))
    page.get_by_label("Images").set_input_files(str(path))
    page.get_by_role("button", name="Run Inference").click()
    result = page.locator("figure.result")
    expect(result).to_have_count(1)
    if expected:
        expect(result.locator(".predicted-labels .predicted-label")).to_have_text(expected)
    else:
        expect(result).to_contain_text("No label above its threshold")
