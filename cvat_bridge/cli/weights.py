"""`cvat-bridge weights list|add`: pretrained weights for machines without internet."""

from __future__ import annotations

from pathlib import Path

import click

from cvat_bridge.cli import main
from cvat_bridge.cli.display import echo_table


@main.group()
def weights() -> None:
    """Pretrained weights for offline machines."""


@weights.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--architecture", required=True, help="The architecture these weights are for.")
def add_weights(file: Path, architecture: str) -> None:
    """Put FILE where the pretrained weights of ARCHITECTURE are looked for (checked to load first)."""
    from trainer.catalogue import UnknownArchitecture, get_architecture
    from trainer.weights import add_weights_file, hash_mismatch

    try:
        target = add_weights_file(file, architecture)
    except (UnknownArchitecture, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{architecture}: weights installed as {target}")
    if note := hash_mismatch(file, get_architecture(architecture).weights_file()):
        click.echo(f"note: {note}")


@weights.command("list")
def list_weights() -> None:
    """Each architecture's pretrained weights: where this machine has them, or the exact file it expects."""
    from trainer.catalogue import architecture_names, get_architecture

    rows = []
    for name in architecture_names():
        spec = get_architecture(name)
        if found := spec.available_weights():
            rows.append([name, found[0], found[1]])
        else:
            expected = spec.weights_file()
            origin = f" from {expected.url}" if expected.url else ""
            rows.append(
                [
                    name,
                    "missing",
                    f"{expected.path}{origin} (or: cvat-bridge weights add FILE --architecture {name})",
                ]
            )
    echo_table(["architecture", "weights", "file"], rows, align="lll")
