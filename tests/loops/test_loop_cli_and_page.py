"""`cvat-bridge loop status|round|start` and the Loops page (headless Chromium) on a seeded loop."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cvat_bridge.cli import main
from cvat_bridge.db import Job
from cvat_bridge.loops import store
from cvat_bridge.services import Services
from tests.loops.conftest import seed_loop


def test_cli(services: Services) -> None:
    loop_id = seed_loop(services)
    runner = CliRunner()

    listed = runner.invoke(main, ["loop", "status"])
    assert listed.exit_code == 0 and "seeded" in listed.output and "entropy" in listed.output
    shown = runner.invoke(main, ["loop", "status", str(loop_id)])
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.output.splitlines()]
    assert ["1", "done", "30", "12", "5", "5", "60.0%", "80.0%"] in [row[:8] for row in rows]
    assert "review task 9" in shown.output and "not deployed: v3: worse" in shown.output

    refused = runner.invoke(main, ["loop", "round", str(loop_id), "--retrain"])
    assert refused.exit_code == 1 and "only a reviewed round can retrain" in refused.output
    modelless = runner.invoke(main, ["loop", "round", str(loop_id)])  # the seeded loop has no model
    assert modelless.exit_code == 1 and "has no model any more" in modelless.output
    checked = runner.invoke(main, ["loop", "round", str(loop_id), "--check"])
    assert checked.exit_code == 0 and "round 3: job" in checked.output
    with services.db.session() as session:  # recorded for the service to run (no worker of its own here)
        assert [job.status for job in session.scalars(select(Job).where(Job.kind == "loop_check"))] == [
            "queued"
        ]

    unknown = runner.invoke(main, ["loop", "start", "--name", "x", "--model", "nope", "--project", "1"])
    assert unknown.exit_code == 1 and "no model named 'nope'" in unknown.output

    stopped = runner.invoke(main, ["loop", "stop", str(loop_id)])  # its webhook (4) is not in any CVAT here
    assert stopped.exit_code == 0 and f"loop {loop_id} stopped" in stopped.output, stopped.output
    assert "could not remove webhook #4" in stopped.output
    assert store.get_loop(services, loop_id).state == "stopped"
    missing = runner.invoke(main, ["loop", "stop", "999"])
    assert missing.exit_code == 1 and "999" in missing.output


@pytest.mark.browser
def test_loops_page_shows_rounds_and_chart(page, services: Services) -> None:
    loop_id = seed_loop(services)
    page.goto("/loops")
    page.locator("#loops-table tbody tr").get_by_text("seeded").click()
    page.locator("#loop-detail").wait_for()
    assert f"loop {loop_id}" in page.locator("#loop-title").inner_text()
    assert "webhook #4" in page.locator("#loop-webhook").inner_text()
    rows = page.locator("#rounds-table tbody tr")
    assert rows.count() == 3
    first = rows.nth(0).inner_text()
    assert "60.0%" in first and "80.0%" in first and "deploying: v2" in first
    assert rows.nth(2).get_by_role("button", name="Check review").is_visible()
    chart = page.locator("#loop-chart svg")
    assert chart.locator("rect").count() == 2 and chart.locator("path").count() == 1
    values = chart.locator("text").all_text_contents()
    assert "80.0%" in values and "70.0%" in values
