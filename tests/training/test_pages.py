"""Train -> Models in Chromium: pick from the catalogue, train, follow it live, read the results."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.jobs.store import request_cancel
from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.models import make_color_collection

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_train_page_to_models_page(page: Page, services: Services) -> None:
    make_color_collection(services, per_class=8, name="browser-colours")
    page.goto("/train")
    expect(page.locator("#mode-select")).to_have_value("classification")
    catalogue = page.locator("#architectures tbody tr")
    expect(catalogue.filter(has_text="mobilenet_v3_large")).to_have_count(1, timeout=60_000)  # imports torch
    page.locator("#architectures tbody tr[data-name='resnet18']").click()
    details = page.locator("#architecture-details")
    expect(details).to_contain_text("11,689,512")
    expect(details).to_contain_text("69.76% / 89.08%")
    expect(details).to_contain_text("resnet18-f37072fd.pth")
    page.locator("#architectures tbody tr[data-name='efficientnet_b2']").click()
    expect(details).to_contain_text("288×288")
    page.locator("#architectures tbody tr[data-name='resnet18']").click()

    expect(page.locator("#collection-select option")).to_have_text(
        re.compile(r"browser-colours v1 \(24 images")
    )
    page.fill("#model-name", "from-the-browser")
    page.locator("#advanced summary").click()
    page.fill("#s-epochs", "2")
    page.fill("#s-batch-size", "8")
    page.fill("#s-image-size", "32")
    page.select_option("#s-augmentation", "none")
    page.uncheck("#s-pretrained")
    page.check("#s-int8")
    page.select_option("#s-flips", "off")
    page.click("#train-button")

    page.wait_for_url(re.compile(r"/models#\d+$"))
    model_id = int(page.url.rsplit("#", 1)[1])
    row = page.locator(f"#models-table tbody tr[data-id='{model_id}']")
    expect(row).to_contain_text("from-the-browser v1")
    expect(page.locator("#detail-status")).to_have_text("succeeded", timeout=240_000)
    model = get_model(services, model_id)
    assert (model.settings["flips"], model.settings["epochs"], model.settings["image_size"]) == ("off", 2, 32)
    metrics = model.metrics
    expect(page.locator("#detail-metrics")).to_contain_text(
        f"({metrics['correct']}/{metrics['total']} correct)"
    )
    loss_chart = page.locator("figure.chart[aria-label='Loss']")
    expect(loss_chart.locator(".u-legend")).to_contain_text("validation loss")
    assert (
        loss_chart.evaluate("(figure) => figure.plot.data[1].filter((v) => v !== null).length") == 2
    )  # epochs
    accuracy_chart = page.locator("figure.chart[aria-label='Validation accuracy']")
    assert accuracy_chart.evaluate("(figure) => figure.plot.data[1]") == [
        h["val_accuracy"] for h in metrics["history"]
    ]
    expect(page.locator("#confusion-matrix tbody tr")).to_have_count(3)
    expect(page.locator("#per-class tbody tr")).to_have_count(4)  # 3 classes + macro
    expect(page.locator("#detail-results")).to_contain_text("model.onnx")
    expect(page.locator("#detail-results")).to_contain_text("model.int8.onnx")
    expect(page.locator("#detail-metrics")).to_contain_text(
        re.compile(r"int8 model.*% agreement with the float model")
    )
    assert metrics["int8"]["agreement"] >= 0.5
    expect(row).to_contain_text(f"{100 * metrics['accuracy']:.1f}%")

    # A long training started elsewhere (the API): it appears, with live progress; then Cancel.
    response = page.request.post(
        "/api/models",
        headers={"Authorization": "Bearer test-token"},
        data={
            "name": "long",
            "collection_id": 1,
            "architecture": "resnet18",
            "epochs": 300,
            "batch_size": 2,
            "image_size": 32,
            "pretrained": False,
            "patience": 0,
        },
    )
    long = get_model(services, response.json()["id"])
    try:
        page.locator(f"#models-table tbody tr[data-id='{long.id}']").click(timeout=30_000)
        expect(page.locator("#progress-text")).to_contain_text(
            re.compile(
                r"epoch \d+/300 · step \d+/\d+ · train loss [\d.]+ · "
                r"(epoch \d+ val accuracy [\d.]+% · )?about \d+ (min \d+ s|s|h \d+ min) left"
            ),
            timeout=120_000,
        )
        expect(page.locator("#detail-progress progress")).to_be_visible()
        page.click("#cancel-button")
        expect(page.locator("#detail-status")).to_have_text("cancelled", timeout=60_000)
    finally:
        request_cancel(services.db, long.job_id)  # never leave the worker process training
