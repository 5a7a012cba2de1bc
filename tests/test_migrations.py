"""The schema's Alembic revisions: a database made by an older revision (or before revisions existed) is
upgraded at start and keeps its rows; the newest revision is exactly what the models declare."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, text

from cvat_bridge import migrations
from cvat_bridge.db import Base, Database, Job
from cvat_bridge.ingest.store import get_collection
from cvat_bridge.jobs.store import claim_job, finish_job
from cvat_bridge.model_lookup import get_model
from cvat_bridge.services import Services
from tests.conftest import make_settings

HEAD = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
CREATED = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _url(database_url: str | None, tmp_path: Path) -> str:
    return database_url or make_settings(tmp_path / "data").resolved_database_url


def _database_at_first_revision(url: str, tmp_path: Path) -> None:
    """A database as the first release left it, with a collection, an image, a queued model and a job."""
    (tmp_path / "data").mkdir(exist_ok=True)
    engine = create_engine(url)
    migrations.upgrade(engine, "0001_initial")
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as connection:
        connection.execute(
            tables.tables["collections"].insert(),
            {
                "id": 1,
                "name": "fabrics",
                "version": 1,
                "source": "zip",
                "classes": ["silk", "wool"],
                "num_images": 1,
                "splits": {"train": {"silk": 1}},
                "report": {},
                "provenance": {"file": "fabrics.zip"},
                "created_at": CREATED,
            },
        )
        connection.execute(
            tables.tables["images"].insert(),
            {
                "collection_id": 1,
                "split": "train",
                "label": "silk",
                "path": "silk/a.jpg",
                "sha256": "0" * 64,
                "width": 8,
                "height": 8,
            },
        )
        job = {"id": "6a3f2b1c-0000-4000-8000-000000000001", "kind": "train", "status": "queued"}
        connection.execute(
            tables.tables["jobs"].insert(),
            {**job, "params": {}, "progress": {}, "cancel_requested": False, "created_at": CREATED},
        )
        connection.execute(
            tables.tables["models"].insert(),
            {
                "id": 1,
                "name": "fabric-net",
                "version": 1,
                "architecture": "resnet18",
                "collection_id": 1,
                "settings": {"epochs": 2},
                "classes": ["silk", "wool"],
                "metrics": {},
                "job_id": job["id"],
                "created_at": CREATED,
            },
        )
    engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision


@pytest.mark.parametrize("versioned", [True, False], ids=["previous-revision", "before-revisions"])
def test_older_database_is_upgraded_and_keeps_its_rows(
    database_url: str | None, tmp_path: Path, versioned: bool
) -> None:
    url = _url(database_url, tmp_path)
    _database_at_first_revision(url, tmp_path)
    if not versioned:  # as create_all made it before the schema had revisions
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
        engine.dispose()
    assert _revision(url) == ("0001_initial" if versioned else None)

    services = Services(make_settings(tmp_path / "data", database_url=database_url))
    try:
        _ = services.db  # opening the database upgrades it
        assert _revision(url) == HEAD
        collection = get_collection(services, 1)
        assert (collection.name, collection.classes, collection.created_at) == (
            "fabrics",
            ["silk", "wool"],
            CREATED,
        )
        model = get_model(services, 1)
        assert (model.name, model.job.status, model.settings) == ("fabric-net", "queued", {"epochs": 2})
        # The new column works: the old queued job is claimed under a token and finished under it.
        claimed = claim_job(services.db, model.job_id)
        assert claimed is not None and claimed.claim_token
        assert not finish_job(services.db, model.job_id, "succeeded", token="not-the-claim")
        assert finish_job(services.db, model.job_id, "succeeded", token=claimed.claim_token)
        with services.db.session() as session:
            assert session.get(Job, model.job_id).status == "succeeded"
    finally:
        services.db.dispose()


def test_newest_revision_is_what_the_models_declare(database_url: str | None, tmp_path: Path) -> None:
    """A fresh database at head has exactly the tables, columns, indexes and keys of cvat_bridge.db: a
    model change without its revision fails here."""
    (tmp_path / "data").mkdir()
    url = _url(database_url, tmp_path)
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            assert "claim_token" in {column["name"] for column in inspect(connection).get_columns("jobs")}
    finally:
        database.dispose()


def test_a_second_start_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    url = _url(None, tmp_path)
    Database(url).dispose()
    before = (tmp_path / "data" / "cvat-bridge.sqlite3").stat().st_mtime_ns
    Database(url).dispose()
    assert _revision(url) == HEAD
    assert (tmp_path / "data" / "cvat-bridge.sqlite3").stat().st_mtime_ns == before


def test_an_upgrade_that_fails_halfway_leaves_the_database_as_it_was(
    database_url: str | None, tmp_path: Path
) -> None:
    """Revisions 0002 and 0003 apply, then 0004 adds its first column and fails: nothing of the three stays
    (SQLite included, whose driver ran DDL outside the transaction), the rows are there, and the next start
    with working revisions upgrades it."""
    url = _url(database_url, tmp_path)
    _database_at_first_revision(url, tmp_path)
    scripts = tmp_path / "revisions"
    shutil.copytree(migrations.HERE, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    broken = scripts / "versions" / "0004_multilabel.py"
    broken.write_text(
        broken.read_text().replace(
            '    with op.batch_alter_table("images"',
            '    raise RuntimeError("the machine went down")\n    with op.batch_alter_table("images"',
            1,
        )
    )
    engine = create_engine(url)
    with pytest.raises(RuntimeError, match="the machine went down"):
        migrations.upgrade(engine, scripts=scripts)
    with engine.connect() as connection:
        schema = inspect(connection)
        assert "loops" not in schema.get_table_names()  # 0003's table
        assert "claim_token" not in {column["name"] for column in schema.get_columns("jobs")}  # 0002's
        assert "mode" not in {column["name"] for column in schema.get_columns("collections")}  # 0004's first
        assert connection.execute(text("SELECT name FROM collections")).scalars().all() == ["fabrics"]
    engine.dispose()
    assert _revision(url) == "0001_initial"

    Database(url).dispose()
    assert _revision(url) == HEAD
