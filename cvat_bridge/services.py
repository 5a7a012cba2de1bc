"""The process's shared parts (settings, database, storage, job queue), built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from cvat_bridge.db import Database
from cvat_bridge.settings import Settings, get_settings
from cvat_bridge.storage import Storage


@dataclass
class Services:
    settings: Settings

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings)

    @cached_property
    def db(self) -> Database:
        _ = self.storage  # the data dir must exist before SQLite opens a file in it
        return Database(self.settings.resolved_database_url)

    @cached_property
    def jobs(self):  # -> cvat_bridge.jobs.queue.JobQueue (imported lazily: it pulls in RQ)
        from cvat_bridge.jobs.queue import make_queue

        return make_queue(self)


_services: Services | None = None


def get_services() -> Services:
    """This process's services, built from the environment on first use."""
    global _services
    if _services is None:
        _services = Services(get_settings())
    return _services


def set_services(services: Services | None) -> None:
    """Replace this process's services (the app factory and tests use it)."""
    global _services
    _services = services
