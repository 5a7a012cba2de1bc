"""The Loss chart of a running training draws the running epoch's step losses (sent with its progress) before
the epoch ends, without rebuilding the rest of the panel."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

EPOCH_1 = [[0.5, 1.2], [1.0, 0.9]]


def running(step_losses: list[list[float]]) -> dict:
    """A model as GET /api/models/{id} answers during epoch 2 of 3."""
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_accuracy": 0.5, "seconds": 1.0,
                "images_per_second": 10.0, "step_losses": EPOCH_1}]  # fmt: skip
    return {
        "id": 41, "name": "live", "version": 1, "architecture": "resnet18", "status": "running",
        "collection_id": None, "classes": ["a", "b"], "settings": {}, "created_at": "2026-12-01T07:00:00Z",
        "artifacts": [], "metrics": {}, "error": None,
        "progress": {"phase": "training", "epoch": 2, "epochs": 3, "step": 5, "steps": 10, "loss": 0.8,
                     "history": history, "step_losses": step_losses},
    }  # fmt: skip


def per_step_xs(page: Page) -> list[float]:
    chart = page.locator("figure.chart[aria-label='Loss']")
    return chart.evaluate("(f) => f.plot.data[0].filter((x, i) => f.plot.data[3][i] !== null)")


def test_the_loss_chart_draws_the_running_epoch(page: Page) -> None:
    page.goto("/models")
    page.evaluate("(model) => renderDetail(model)", running(EPOCH_1))  # the last report of epoch 1
    assert per_step_xs(page) == [0.5, 1.0]  # epoch 1's curve, from its history row
    page.evaluate("() => { document.getElementById('detail-context').dataset.kept = 'yes'; }")

    page.evaluate("(model) => renderDetail(model)", running([[1.2, 0.8], [1.5, 0.7]]))  # epoch 2 so far
    assert per_step_xs(page) == [0.5, 1.0, 1.2, 1.5]
    assert page.locator("#detail-context").get_attribute("data-kept") == "yes"  # only the charts redrawn
