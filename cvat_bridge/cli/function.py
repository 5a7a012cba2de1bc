"""`cvat-bridge function export MODEL DIR`: write a model's Nuclio function folder for `nuctl deploy`."""

from __future__ import annotations

from pathlib import Path

import click

from cvat_bridge.cli import main
from cvat_bridge.functions.render import VARIANTS, load_source, render_function
from cvat_bridge.model_lookup import resolve_model
from cvat_bridge.services import get_services


@main.group()
def function() -> None:
    """The Nuclio function of a model, for CVAT's automatic annotation."""


@function.command("export")
@click.argument("model", metavar="MODEL")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--variant",
    type=click.Choice(list(VARIANTS)),
    default="cpu",
    show_default=True,
    help="cpu: ONNX Runtime (CPU provider); gpu: adds function-gpu.yaml (onnxruntime-gpu, CUDA provider)",
)
def export(model: str, folder: Path, variant: str) -> None:
    """Write MODEL's function folder into DIR (which must not exist yet); MODEL: an id, or a name (its
    latest version)."""
    if folder.exists():
        raise click.UsageError(f"{folder} exists already; name a new folder")
    services = get_services()
    source = load_source(services, resolve_model(services, model))
    render_function(source, folder, services.settings.inference_threads, variant)
    click.echo(f"wrote {source.function_name} to {folder}; deploy it into CVAT's Nuclio with:")
    click.echo(
        f"  nuctl deploy --project-name cvat --path {folder} --file {folder}/{VARIANTS[variant]} "
        '--platform local --platform-config \'{"attributes": {"network": "cvat_cvat"}}\''
    )
