"""`cvat-bridge collections ...`: import a zip, list, show and delete collections (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from tqdm import tqdm

from cvat_bridge.cli import main
from cvat_bridge.ingest.multilabel import MODES
from cvat_bridge.ingest.store import (
    collection_to_dict,
    delete_collection,
    get_collection,
    list_collections,
)
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.services import get_services


@main.group()
def collections() -> None:
    """Collections: labelled images with a stored train/val split."""


@collections.command("import")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Collection name (importing it again makes a new version).")
@click.option("--val-ratio", default=0.3, show_default=True, help="Share of each class for val, if unsplit.")
@click.option("--seed", default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=None,
    help="single or multi (several labels per image); default: multi when the zip holds a labels.csv.",
)
def import_command(zip_file: Path, name: str, val_ratio: float, seed: int, mode: str | None) -> None:
    """Import ZIP_FILE (class folders, or train/ and val/ holding class folders; multi-label: a labels.csv)
    as a collection."""
    with tqdm(unit="file", desc="examining", leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        collection = import_zip(
            get_services(),
            zip_file,
            name=name,
            val_ratio=val_ratio,
            seed=seed,
            progress=progress,
            mode=mode,
        )
    data = collection_to_dict(collection)
    click.echo(f"collection {data['id']}: {data['name']} v{data['version']}, {data['num_images']} images")
    _echo_counts(data)
    _echo_report(data["report"])


@collections.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
def list_command(as_json: bool) -> None:
    """List the collections with their image counts."""
    items = [collection_to_dict(collection) for collection in list_collections(get_services())]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("no collections yet: cvat-bridge collections import FILE.zip --name NAME")
    for data in items:
        click.echo(
            f"{data['id']:>4}  {data['name']} v{data['version']}  {data['num_images']} images  "
            f"({data['source']}, {data['created_at'][:19]})"
        )
        _echo_counts(data, indent="      ")


@collections.command("show")
@click.argument("collection_id", type=int)
def show_command(collection_id: int) -> None:
    """Print one collection with its import report (JSON)."""
    click.echo(json.dumps(collection_to_dict(get_collection(get_services(), collection_id)), indent=2))


@collections.command("delete")
@click.argument("collection_id", type=int)
def delete_command(collection_id: int) -> None:
    """Delete a collection and its files."""
    delete_collection(get_services(), collection_id)
    click.echo(f"deleted collection {collection_id}")


def _echo_counts(data: dict, indent: str = "  ") -> None:
    splits = data["splits"]
    click.echo(indent + f"{'class':<24}" + "".join(f"{split:>8}" for split in splits))
    for label in data["classes"]:
        click.echo(indent + f"{label:<24}" + "".join(f"{splits[split].get(label, 0):>8}" for split in splits))


def _echo_report(report: dict) -> None:
    if report.get("skipped_total"):
        kinds = ", ".join(f"{kind}: {count}" for kind, count in report["skipped_by_kind"].items())
        click.echo(f"skipped {report['skipped_total']} files ({kinds})")
        for item in report["skipped"][:20]:
            click.echo(f"  {item['path']}: {item['reason']}")
    if report.get("duplicate_groups"):
        click.echo(
            f"exact duplicates: {report['duplicate_groups']} groups "
            f"({report['leakage_groups']} across splits: leakage)"
        )
    for warning in report.get("warnings", []):
        click.echo(f"warning: {warning}")
