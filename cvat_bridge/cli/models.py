"""`cvat-bridge train`, `cvat-bridge models list`, `cvat-bridge weights add|list`."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from cvat_bridge.cli import main
from cvat_bridge.db import Collection
from cvat_bridge.jobs.runner import run_job
from cvat_bridge.jobs.store import TERMINAL_STATES, request_cancel
from cvat_bridge.services import Services, get_services
from cvat_bridge.training import TrainingRequestError, create_training, get_model, list_models

POLL_SECONDS = 0.5


@main.command()
@click.option("--collection", required=True, help="Collection id, or name (its latest version).")
@click.option("--architecture", required=True, help="e.g. resnet18 (see GET /api/architectures).")
@click.option("--name", required=True, help="Model name; training a name again makes a new version.")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int)
@click.option("--image-size", type=int, help="Input size; default: the architecture's native size.")
@click.option("--learning-rate", type=float)
@click.option("--pretrained/--no-pretrained", default=None, help="Start from ImageNet weights (default).")
@click.option("--seed", type=int)
@click.option("--patience", type=int, help="Early stopping after N epochs without improvement (0: off).")
@click.option("--imbalance", type=click.Choice(["weighted_loss", "sampler", "none"]))
@click.option("--augmentation", type=click.Choice(["none", "light", "strong"]))
@click.option("--warmup-epochs", type=int, help="First epochs train the new head only (pretrained).")
@click.option("--backbone-lr-scale", type=float, help="Backbone learning rate = learning rate x this.")
@click.option("--freeze-batchnorm/--train-batchnorm", default=None, help="Keep BatchNorm statistics.")
def train(collection: str, architecture: str, name: str, **options: Any) -> None:
    """Fine-tune ARCHITECTURE on a collection; shows progress, then the validation metrics.

    Runs here unless CVAT_BRIDGE_REDIS_URL is set (then a `cvat-bridge worker` takes it). Ctrl-C cancels.
    """
    services = get_services()
    settings = {key: value for key, value in options.items() if value is not None}
    try:
        model = create_training(
            services,
            name=name,
            collection_id=_collection_id(services, collection),
            architecture=architecture,
            settings=settings,
        )
    except TrainingRequestError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"model {model.id}: {model.name} v{model.version} ({architecture}), job {model.job_id}")
    if services.settings.redis_url:
        services.jobs.submit(model.job_id)
    else:
        threading.Thread(target=run_job, args=(model.job_id,), daemon=True).start()
    try:
        status = _follow(services, model.id)
    except KeyboardInterrupt:
        request_cancel(services.db, model.job_id)
        click.echo("cancelling...")
        status = _follow(services, model.id)
    final = get_model(services, model.id)
    if status != "succeeded":
        raise click.ClickException(f"training {status}: {final.job.error}")
    _print_metrics(final.metrics, final.classes)
    click.echo(f"artifacts: {services.storage.model_dir(model.id)}")


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


def _follow(services: Services, model_id: int) -> str:
    """Show the job's progress until it ends; returns its final status."""
    from tqdm import tqdm

    with tqdm(total=None, unit="epoch", dynamic_ncols=True) as bar:
        while True:
            job = get_model(services, model_id).job
            progress = job.progress or {}
            if progress.get("epochs"):
                bar.total = progress["epochs"]
                steps = max(progress.get("steps", 1), 1)
                done = progress.get("epoch", 0) - 1 + progress.get("step", 0) / steps
                bar.n = min(max(done, 0), bar.total)
                bar.set_postfix_str(_postfix(job.status, progress), refresh=False)
                bar.refresh()
            if job.status in TERMINAL_STATES:
                return job.status
            time.sleep(POLL_SECONDS)


def _postfix(status: str, progress: dict[str, Any]) -> str:
    parts = [progress.get("phase") or status]
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4f}")
    if progress.get("val_accuracy") is not None:
        parts.append(f"val acc {progress['val_accuracy']:.1%}")
    if progress.get("images_per_second"):
        parts.append(f"{progress['images_per_second']:.0f} img/s")
    return ", ".join(parts)


def _print_metrics(metrics: dict[str, Any], classes: list[str]) -> None:
    click.echo(
        f"validation accuracy {metrics['accuracy']:.1%} ({metrics['correct']}/{metrics['total']})"
        + (f", top-5 {metrics['top5']:.1%}" if metrics.get("top5") is not None else "")
        + f", best epoch {metrics['best_epoch'] or '0 (the probe head)'} of {metrics['epochs_run']}"
    )
    if "test" in metrics:
        test = metrics["test"]
        click.echo(f"test accuracy {test['accuracy']:.1%} ({test['correct']}/{test['total']})")
    width = max(len(name) for name in classes)
    click.echo(f"{'class':<{width}}  precision  recall     f1  support")
    for name in classes:
        row = metrics["per_class"][name]
        scores = f"{row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}"
        click.echo(f"{name:<{width}}  {scores}  {row['support']:7d}")


@main.group()
def models() -> None:
    """Trained models."""


@models.command("list")
def list_command() -> None:
    """One line per model: id, name, version, architecture, status, validation accuracy."""
    rows = list_models(get_services())
    if not rows:
        click.echo("no models yet (cvat-bridge train ...)")
        return
    click.echo(f"{'id':>4}  {'name':<24} {'ver':>3}  {'architecture':<20} {'status':<10} accuracy")
    for model in rows:
        accuracy = model.metrics.get("accuracy")
        shown = f"{accuracy:.1%}" if accuracy is not None else "-"
        what = f"{model.name:<24} {model.version:>3}  {model.architecture:<20}"
        click.echo(f"{model.id:>4}  {what} {model.job.status:<10} {shown}")


@main.group()
def weights() -> None:
    """Pretrained weights for offline machines."""


@weights.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--architecture", required=True, help="The architecture these weights are for.")
def add_weights(file: Path, architecture: str) -> None:
    """Put FILE where torchvision finds the pretrained weights of ARCHITECTURE (checked to load first)."""
    from trainer.catalogue import UnknownArchitecture
    from trainer.weights import add_weights_file

    try:
        target = add_weights_file(file, architecture)
    except (UnknownArchitecture, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{architecture}: weights installed as {target}")


@weights.command("list")
def list_weights() -> None:
    """Which architectures have pretrained weights on this machine, and where from (package, cache)."""
    from trainer.catalogue import architecture_names, get_architecture
    from trainer.weights import available_weights

    width = max(len(name) for name in architecture_names())
    for name in architecture_names():
        found = available_weights(get_architecture(name))
        shown = f"{found[0]}: {found[1]}" if found else "-- (download, or `cvat-bridge weights add`)"
        click.echo(f"{name:<{width}}  {shown}")
