"""The database schema's history as Alembic revisions (``versions/``), and bringing a database to the newest.

``upgrade(engine)`` runs once per process that opens the database (``db.Database``), under a lock: a file
lock beside the SQLite file, a transaction-level advisory lock on PostgreSQL. So two processes starting on
a new data dir (``serve`` and ``worker``, or two of either) never migrate at once, and a worker on another
machine with an older database gets the new columns. The whole upgrade is one transaction, DDL included, on
both databases: a revision that fails halfway (or a process killed during it) leaves the database as it was.
Adding a table or a column: ARCHITECTURE.md, "Database".
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine

HERE = Path(__file__).resolve().parent
# Databases made before the schema had revisions (tables made by create_all, no alembic_version table) are
# at the first of these revisions whose sign they show (a table, or a table's column), else at 0001.
UNVERSIONED = (
    ("0004_multilabel", "collections", "mode"),
    ("0003_loop_tables", "loops", None),
    ("0002_job_claim_token", "jobs", "claim_token"),
)
UNVERSIONED_FIRST = "0001_initial"
_LOCK_KEY = 0x63766174  # PostgreSQL advisory lock id for schema changes ("cvat")


def alembic_config(connection: Connection | None = None, scripts: Path = HERE) -> Config:
    """Alembic's configuration for the revisions in ``scripts`` (this package's; ``connection``: the one to
    migrate on)."""
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head", scripts: Path = HERE) -> None:
    """Bring the database to ``revision`` (the newest by default), one process at a time, all or nothing."""
    with _schema_lock(engine) as connection:
        config = alembic_config(connection, scripts)
        _stamp_unversioned(connection, config)
        command.upgrade(config, revision)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the schema lock until it commits."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with open(f"{engine.url.database}.schema-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # closing the file releases it
            migration_engine = _transactional_sqlite(engine.url)
            try:
                with migration_engine.begin() as connection:
                    yield connection
            finally:
                migration_engine.dispose()
    else:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield connection


def _transactional_sqlite(url: URL) -> Engine:
    """An engine on the same SQLite file whose transactions hold DDL too. Python's sqlite3 module begins a
    transaction only before INSERT, UPDATE or DELETE, so a CREATE or ALTER ran on its own and a revision that
    failed halfway kept its first changes; here each transaction starts with BEGIN IMMEDIATE (the write lock
    at once) and nothing commits before its end. The file is switched to WAL first, as every connection of
    ``db.Database`` does: a writer then never blocks another process's readers, nor its switch to WAL."""
    migration_engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(migration_engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(migration_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return migration_engine


def _stamp_unversioned(connection: Connection, config: Config) -> None:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if "alembic_version" in tables or "jobs" not in tables:
        return
    for revision, table, column in UNVERSIONED:
        if table in tables and (
            column is None or column in {found["name"] for found in inspector.get_columns(table)}
        ):
            command.stamp(config, revision)
            return
    command.stamp(config, UNVERSIONED_FIRST)
