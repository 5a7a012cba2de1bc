"""The `cvat-bridge` command. It works on the data dir and database of the settings, like the service."""

from __future__ import annotations

import logging

import click

from cvat_bridge import __version__
from cvat_bridge.errors import DomainError
from cvat_bridge.jobs.queue import QUEUES
from cvat_bridge.masking import mask_url
from cvat_bridge.services import get_services
from cvat_bridge.settings import LOG_FORMAT


class _Commands(click.Group):
    """The command group: a domain error raised by any command (cvat_bridge.errors: not found, conflict,
    invalid, unavailable, upstream) is the user's message on stderr and exit status 1, as the API's
    handlers make it an answer; anything else is a bug and shows its traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands)
@click.version_option(__version__)
def main() -> None:
    """Train image classifiers from zip folder trees and CVAT tags; put them back into CVAT."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the API and the pages (jobs run in a worker process of their own unless Redis is set)."""
    import uvicorn

    from cvat_bridge.api.app import create_app

    services = get_services()
    app = create_app(services)
    click.echo(f"cvat-bridge: data in {services.storage.root}, database {mask_url(services.db.url)}")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"cvat-bridge: open http://{shown}:{port}/ (API token in {services.storage.token_file})")
    uvicorn.run(app, host=host, port=port)


@main.command()
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUES),
    help="Queues to take jobs from (repeatable; default: all). CPU-only machines can leave out 'train'.",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues: tuple[str, ...], burst: bool) -> None:
    """Take jobs from Redis (CVAT_BRIDGE_REDIS_URL); run as many as you have machines or GPUs."""
    from cvat_bridge.jobs.worker import WorkerStartError, run_worker

    try:
        run_worker(get_services(), queues=queues or QUEUES, burst=burst)
    except WorkerStartError as exc:
        raise click.ClickException(str(exc)) from exc


# Each module registers its commands on `main`.
from cvat_bridge.cli import collections, cvat, function, loop, models, predict, train, weights  # noqa: E402,F401,I001
