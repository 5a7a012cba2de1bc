"""`cvat-bridge train`: its options are generated from `trainer.config.TrainSettings` (one truth)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import click
from pydantic import BaseModel
from sqlalchemy import select

from cvat_bridge.cli import main
from cvat_bridge.cli.display import follow, print_epochs, print_metrics
from cvat_bridge.db import Collection
from cvat_bridge.jobs.runner import run_job
from cvat_bridge.model_lookup import get_model
from cvat_bridge.services import Services, get_services
from cvat_bridge.setting_fields import setting_fields
from cvat_bridge.training import create_training, training_warnings
from trainer.artifacts import CHECKPOINT
from trainer.config import TrainSettings

# Jobs log their epochs (for `serve`); under the live bar of these commands those lines only clutter it.
QUIET_WHILE_FOLLOWING = ("cvat_bridge.training", "cvat_bridge.jobs.runner")


def settings_options(settings: type[BaseModel]) -> Callable[[Callable], Callable]:
    """click options for every field of settings: `--kebab-case`, bool -> `--x/--no-x`, Literal -> a choice,
    the description (and default) as help. An option not given is left out, so the settings' default holds."""

    def decorate(command: Callable) -> Callable:
        for field in reversed(setting_fields(settings)):
            flag = "--" + field.name.replace("_", "-")
            default = field.default
            if field.kind is bool:
                default = flag if default else f"--no-{flag[2:]}"
            help_text = field.description or field.label
            help_text += f" (default: {default})" if default is not None else ""
            if field.kind is bool:
                option = click.option(f"{flag}/--no-{flag[2:]}", field.name, default=None, help=help_text)
            elif field.choices:
                option = click.option(flag, field.name, type=click.Choice(field.choices), help=help_text)
            else:
                option = click.option(flag, field.name, type=field.kind, help=help_text)
            command = option(command)
        return command

    return decorate


@main.command()
@click.option("--collection", required=True, help="Collection id, or name (its latest version).")
@click.option("--architecture", required=True, help="e.g. resnet18 (see GET /api/architectures).")
@click.option("--name", required=True, help="Model name; training a name again makes a new version.")
@settings_options(TrainSettings)
def train(collection: str, architecture: str, name: str, **options: Any) -> None:
    """Fine-tune ARCHITECTURE on a collection; shows progress, then the validation metrics and each epoch.

    Runs here unless CVAT_BRIDGE_REDIS_URL is set (then a `cvat-bridge worker` takes it). Ctrl-C cancels
    (`cvat-bridge models resume` continues it from its last finished epoch).
    """
    services = get_services()
    settings = {key: value for key, value in options.items() if value is not None}
    model = create_training(
        services,
        name=name,
        collection_id=_collection_id(services, collection),
        architecture=architecture,
        settings=settings,
    )
    click.echo(f"model {model.id}: {model.name} v{model.version} ({architecture}), job {model.job_id}")
    for warning in training_warnings(model):
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    run_and_follow(services, model.id)


def run_and_follow(services: Services, model_id: int) -> None:
    """Run the model's queued training (here, or in a worker with Redis) and show it until it ends; then its
    metrics and epochs. A training that does not succeed exits non-zero with its error."""
    job_id = get_model(services, model_id).job_id
    if services.settings.redis_url:
        services.jobs.submit(job_id)
    else:
        threading.Thread(target=run_job, args=(job_id,), daemon=True).start()
    loggers = [logging.getLogger(name) for name in QUIET_WHILE_FOLLOWING]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        status = follow(services, model_id)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    final = get_model(services, model_id)
    if status != "succeeded":
        resumable = (services.storage.model_dir(model_id) / CHECKPOINT).is_file()
        hint = f" (continue it: cvat-bridge models resume {model_id})" if resumable else ""
        raise click.ClickException(f"training {status}: {final.job.error}{hint}")
    print_metrics(final.metrics, final.classes)
    print_epochs(final.metrics)
    click.echo(f"artifacts: {services.storage.model_dir(model_id)}")


def _collection_id(services: Services, collection: str) -> int:
    if collection.isdigit():
        return int(collection)
    with services.db.session() as session:
        found = session.scalars(
            select(Collection.id).where(Collection.name == collection).order_by(Collection.version.desc())
        ).first()
    if found is None:
        raise click.ClickException(f"no collection named {collection!r}")
    return found
