"""`cvat-bridge predict MODEL IMAGE...`: one line per image with the class, its confidence and the top k."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from cvat_bridge.cli import main
from cvat_bridge.db import Model
from cvat_bridge.services import Services, get_services
from cvat_bridge.serving import BadImage, ModelNotFound, ModelNotReady, Prediction, get_predictor, read_images


@main.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(min=1), help="Classes listed.")
@click.option(
    "--threshold",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Below this confidence the class is printed as '-'.",
)
def predict(model: str, images: tuple[Path, ...], top_k: int, threshold: float) -> None:
    """Classify IMAGES with MODEL (an id, or a name for its latest version).

    Prints `IMAGE<TAB>CLASS<TAB>CONFIDENCE<TAB>TOP-K` per image; unreadable images are reported on stderr
    and make the exit status 1.
    """
    services = get_services()
    try:
        predictor = get_predictor(services, resolve_model(services, model))
    except (ModelNotFound, ModelNotReady) as exc:
        raise click.ClickException(str(exc)) from exc
    failed = False
    for path in images:
        try:
            image = read_images(
                [(str(path), path)], services.settings.max_image_pixels, predictor.preprocessing.resize_size
            )
        except BadImage as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        click.echo(format_line(str(path), predictor.predict(image, top_k=top_k, threshold=threshold)[0]))
    if failed:
        raise SystemExit(1)


def resolve_model(services: Services, model: str) -> int:
    """A model id from an id or a name (latest version)."""
    if model.isdigit():
        return int(model)
    with services.db.session() as session:
        model_id = session.scalars(
            select(Model.id).where(Model.name == model).order_by(Model.version.desc()).limit(1)
        ).first()
    if model_id is None:
        raise click.ClickException(f"no model named {model!r}")
    return model_id


def format_line(name: str, prediction: Prediction) -> str:
    ranked = ", ".join(f"{score.label} {score.confidence:.3f}" for score in prediction.top_k)
    return f"{name}\t{prediction.label or '-'}\t{prediction.confidence:.3f}\t{ranked}"
