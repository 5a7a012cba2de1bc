"""`cvat-bridge loop start|status|round|stop`: the closed loop from the command line.

The steps run as jobs of the service: `cvat-bridge serve` (or `worker`s with Redis) must be running for a
loop to move on; these commands record and read the loop's rows.
"""

from __future__ import annotations

import click

from cvat_bridge.cli import main
from cvat_bridge.cli.display import echo_table
from cvat_bridge.db import Loop
from cvat_bridge.loops import steps, store
from cvat_bridge.loops.strategies import STRATEGIES
from cvat_bridge.model_lookup import resolve_model
from cvat_bridge.services import Services, get_services


def _services() -> Services:
    return steps.without_dispatch(get_services())


@main.group()
def loop() -> None:
    """The closed loop: uncertain frames to CVAT reviewers, retraining, redeployment."""


@loop.command("start")
@click.option("--name", required=True, help="Loop name (also names its collections).")
@click.option("--model", "model", required=True, help="The scoring model: an id, or a name (latest version).")
@click.option("--project", "project_id", type=int, required=True, help="CVAT project id.")
@click.option("--task", "task_id", type=int, help="Score only this CVAT task's frames.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="margin", show_default=True)
@click.option(
    "--budget", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Frames per round."
)
@click.option("--auto-tag-threshold", type=click.FloatRange(0, 1), default=0.9, show_default=True)
@click.option("--auto-retrain/--manual-retrain", default=True, show_default=True)
@click.option("--auto-deploy/--manual-deploy", default=True, show_default=True)
@click.option("--deploy-margin", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--review-done", type=click.Choice(steps.REVIEW_DONE), default="completed", show_default=True)
@click.option("--assignee", "assignee_id", type=int, help="CVAT user id the review tasks are assigned to.")
def start_command(model: str, **options: object) -> None:
    """Start a loop; its first round is queued at once."""
    services = _services()
    created = steps.start_loop(services, model_id=resolve_model(services, model), **options)
    click.echo(f"loop {created.id} started; round 1 is queued")
    click.echo(
        f"webhook #{created.webhook_id} on CVAT project {created.project_id}"
        if created.webhook_id
        else created.webhook_note
    )


@loop.command("status")
@click.argument("loop_id", type=int, required=False)
def status_command(loop_id: int | None) -> None:
    """Every loop, or one loop's rounds."""
    services = _services()
    if loop_id is None:
        rows = [
            [str(x.id), x.name, str(x.model_id), str(x.project_id), x.strategy, str(x.budget), x.state]
            for x in store.list_loops(services)
        ]
        echo_table(["id", "name", "model", "project", "strategy", "budget", "state"], rows)
        return
    found: Loop = store.get_loop(services, loop_id)
    click.echo(f"loop {found.id} {found.name}: {found.state}, model {found.model_id}, {found.strategy}")
    rows = [
        [
            str(r.number),
            r.state,
            str(r.scored),
            str(r.auto_tagged),
            str(len(r.selected or [])),
            "-" if r.reviewed is None else str(r.reviewed),
            _percent(r.old_accuracy),
            _percent(r.new_accuracy),
            str(r.deployed_model_id or "-"),
            r.decision or (f"review task {r.review_task_id}" if r.review_task_id else ""),
        ]
        for r in store.loop_rounds(services, loop_id)
    ]
    header = ["round", "state", "scored", "auto", "review", "reviewed", "old", "new", "deployed", "why"]
    echo_table(header, rows)


@loop.command("round")
@click.argument("loop_id", type=int)
@click.option("--check", is_flag=True, help="Ask CVAT now whether the current round's review is done.")
@click.option("--retrain", is_flag=True, help="Retrain after the current round's review.")
def round_command(loop_id: int, check: bool, retrain: bool) -> None:
    """Start the next round (or, with an option, move the current one on)."""
    services = _services()
    found = store.get_loop(services, loop_id)
    rounds = store.loop_rounds(services, loop_id)
    if check or retrain:
        if not rounds:
            raise click.ClickException(f"loop {loop_id} has no round yet")
        current = rounds[-1]
        job = (steps.start_check if check else steps.start_retrain)(services, current.id)
        click.echo(f"round {current.number}: job {job} queued")
        return
    row = steps.start_round(services, found)
    click.echo(f"round {row.number} of loop {loop_id} queued")


@loop.command("stop")
@click.argument("loop_id", type=int)
def stop_command(loop_id: int) -> None:
    """Start no new round (one under way finishes its steps) and remove the loop's CVAT webhook."""
    stopped = steps.stop_loop(_services(), loop_id)
    click.echo(
        f"loop {loop_id} {stopped.state}" + (f": {stopped.webhook_note}" if stopped.webhook_note else "")
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
