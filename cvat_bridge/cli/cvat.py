"""`cvat-bridge collections import-cvat` and `cvat-bridge cvat status|tasks|projects|annotate`.

They talk to the CVAT of the settings (CVAT_BRIDGE_CVAT_*) and run in this process (no server needed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from tqdm import tqdm

from cvat_bridge.cli import main
from cvat_bridge.cli.collections import collections
from cvat_bridge.cvat import client as cvat_client
from cvat_bridge.cvat.annotate import annotate_task
from cvat_bridge.cvat.importer import import_from_cvat
from cvat_bridge.ingest.multilabel import MODES, SINGLE
from cvat_bridge.ingest.store import collection_to_dict
from cvat_bridge.model_lookup import resolve_model
from cvat_bridge.services import get_services


@contextmanager
def _progress_bar(what: str) -> Iterator[Callable[..., None]]:
    with tqdm(unit="frame", desc=what, leave=False) as bar:

        def progress(frames_done: int = 0, frames_total: int = 0, **_: Any) -> None:
            bar.total = frames_total
            bar.update(frames_done - bar.n)

        yield progress


@collections.command("import-cvat")
@click.option("--task", "task_id", type=int, help="CVAT task id.")
@click.option("--project", "project_id", type=int, help="CVAT project id (all its tasks).")
@click.option("--name", required=True, help="Collection name (importing it again makes a new version).")
@click.option(
    "--mode", type=click.Choice(MODES), default=SINGLE, show_default=True, help="multi: frames with 1+ tags."
)
def import_cvat(task_id: int | None, project_id: int | None, name: str, mode: str) -> None:
    """Import a CVAT task or project: frames with exactly one tag become images of that class (multi: frames
    with one or more tags, each with all of them)."""
    if (task_id is None) == (project_id is None):
        raise click.UsageError("give --task or --project")
    services = get_services()
    with cvat_client.connect(services.settings) as client, _progress_bar("importing") as bar:
        collection = import_from_cvat(
            services, client, name=name, task_id=task_id, project_id=project_id, progress=bar, mode=mode
        )
    data = collection_to_dict(collection)
    click.echo(
        f"collection {data['id']}: {data['name']} v{data['version']}, {data['num_images']} images, "
        f"classes {', '.join(data['classes'])}"
    )
    excluded = data["report"]["excluded"].items()
    click.echo("left out: " + ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in excluded))


@main.group()
def cvat() -> None:
    """The CVAT server of the settings: status, tasks and projects to import, tagging a task."""


@cvat.command("status")
def status_command() -> None:
    """Whether CVAT is reachable, its version and the user the bridge acts as."""
    answer = cvat_client.status(get_services().settings)
    click.echo(json.dumps(answer, indent=2))
    if not answer["authenticated"]:
        raise SystemExit(1)


def _listing(fetch: Callable[[Any], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    with cvat_client.connect(get_services().settings) as client:
        return fetch(client)


@cvat.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tasks_command(as_json: bool) -> None:
    """The CVAT tasks that can be imported."""
    items = _listing(cvat_client.list_tasks)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for task in items:
        subset = f" [{task['subset']}]" if task["subset"] else ""
        click.echo(
            f"{task['id']:>6}  {task['name']}{subset}: {task['size']} frames, "
            f"labels {', '.join(task['labels']) or '-'}"
        )


@cvat.command("projects")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def projects_command(as_json: bool) -> None:
    """The CVAT projects that can be imported."""
    items = _listing(cvat_client.list_projects)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for project in items:
        click.echo(
            f"{project['id']:>6}  {project['name']}: {project['tasks']} tasks, "
            f"{project['size']} frames, labels {', '.join(project['labels']) or '-'}"
        )


@cvat.command("annotate")
@click.option("--model", required=True, help="Model id, or name (its latest version).")
@click.option("--task", "task_id", type=int, required=True, help="CVAT task id.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Frames whose best class is less likely than this get no tag.",
)
@click.option("--overwrite", is_flag=True, help="Replace the tags of frames that already have one.")
def annotate_command(model: str, task_id: int, threshold: float, overwrite: bool) -> None:
    """Tag a CVAT task's frames with a trained model (tags written with source "auto")."""
    services = get_services()
    model_id = resolve_model(services, model)
    with cvat_client.connect(services.settings) as client, _progress_bar("tagging") as bar:
        result = annotate_task(
            services,
            client,
            model_id=model_id,
            task_id=task_id,
            threshold=threshold,
            overwrite=overwrite,
            progress=bar,
        )
    click.echo(json.dumps(result, indent=2))
