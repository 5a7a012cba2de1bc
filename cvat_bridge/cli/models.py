"""`cvat-bridge models list|show|watch|cancel|resume|delete`: MODEL is an id or a name (latest version)."""

from __future__ import annotations

import click

from cvat_bridge.cli import main
from cvat_bridge.cli.display import echo_table, follow, print_epochs, print_metrics, score_text
from cvat_bridge.cli.train import run_and_follow
from cvat_bridge.db import Model
from cvat_bridge.jobs.store import TERMINAL_STATES
from cvat_bridge.model_lookup import get_model, resolve_model
from cvat_bridge.services import Services, get_services
from cvat_bridge.training import (
    cancel_training,
    delete_model,
    list_models,
    requeue_training,
)

MODEL = click.argument("model", metavar="MODEL")


def find_model(services: Services, model: str) -> Model:
    """The model of MODEL (an id, or a name for its latest version); ModelNotFound says none is."""
    return get_model(services, resolve_model(services, model))


@main.group()
def models() -> None:
    """Trained models (MODEL: an id, or a name for its latest version)."""


@models.command("list")
def list_command() -> None:
    """One line per model: id, name, version, architecture, status, validation accuracy (multi-label: mAP)."""
    rows = list_models(get_services())
    if not rows:
        click.echo("no models yet (cvat-bridge train ...)")
        return
    echo_table(
        ["id", "name", "version", "architecture", "status", "accuracy"],
        [
            [
                model.id,
                model.name,
                model.version,
                model.architecture,
                model.job.status,
                score_text(model.metrics),
            ]
            for model in rows
        ],
        align="rlrllr",
    )


@models.command("show")
@MODEL
def show(model: str) -> None:
    """Status, progress or error, settings, then the metrics, per-class table and epochs of a trained one."""
    services = get_services()
    found = find_model(services, model)
    job = found.job
    click.echo(f"model {found.id}: {found.name} v{found.version} ({found.architecture})")
    click.echo(f"collection {found.collection_id}, classes: {', '.join(found.classes)}")
    click.echo(f"status: {job.status}" + (f" ({job.error})" if job.error else ""))
    progress = job.progress or {}
    if job.status not in TERMINAL_STATES and progress.get("phase"):
        where = f", epoch {progress['epoch']}/{progress['epochs']}" if progress.get("epoch") else ""
        click.echo(f"progress: {progress['phase']}{where}")
    click.echo("settings: " + ", ".join(f"{key}={value}" for key, value in sorted(found.settings.items())))
    if job.status == "succeeded" and found.metrics:
        print_metrics(found.metrics, found.classes)
        print_epochs(found.metrics)
    click.echo(f"artifacts: {services.storage.model_dir(found.id)}")


@models.command("watch")
@MODEL
def watch(model: str) -> None:
    """Follow a training live until it ends (Ctrl-C stops watching; the training goes on)."""
    services = get_services()
    found = find_model(services, model)
    try:
        status = follow(services, found.id, cancel_on_interrupt=False)
    except KeyboardInterrupt:
        click.echo(f"stopped watching; model {found.id} goes on (cvat-bridge models cancel {found.id})")
        return
    final = get_model(services, found.id)
    click.echo(f"model {found.id}: {status}" + (f" ({final.job.error})" if final.job.error else ""))
    if status == "succeeded":
        print_metrics(final.metrics, final.classes)
        print_epochs(final.metrics)


@models.command("cancel")
@MODEL
def cancel(model: str) -> None:
    """Cancel a queued training at once, ask a running one to stop (it ends within seconds)."""
    services = get_services()
    found = cancel_training(services, find_model(services, model).id)
    status = found.job.status
    shown = "stopping (cvat-bridge models watch to follow)" if status == "running" else status
    click.echo(f"model {found.id}: {shown}")


@models.command("resume")
@MODEL
def resume(model: str) -> None:
    """Continue a cancelled or failed training from its last finished epoch (the same model version)."""
    services = get_services()
    found = find_model(services, model)
    requeue_training(services, found.id)
    click.echo(f"model {found.id}: {found.name} v{found.version} resumes after its last finished epoch")
    run_and_follow(services, found.id)


@models.command("delete")
@MODEL
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(model: str, yes: bool) -> None:
    """Delete a model's rows and files (a running training must be cancelled first)."""
    services = get_services()
    found = find_model(services, model)
    if not yes:
        click.confirm(f"delete model {found.id} ({found.name} v{found.version}) and its files?", abort=True)
    delete_model(services, found.id)
    click.echo(f"model {found.id} deleted")
