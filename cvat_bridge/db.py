"""SQL storage: SQLite embedded by default, PostgreSQL when ``CVAT_BRIDGE_DATABASE_URL`` says so.

Rows are the source of truth for collections, models, jobs and deployments; files live under the data dir
(see ``cvat_bridge.storage``). Status and progress of a model are those of its training job. A change to
these tables comes with a revision in ``cvat_bridge/migrations/versions/`` (ARCHITECTURE.md, "Database").
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from sqlalchemy.types import TypeDecorator

from cvat_bridge import migrations
from cvat_bridge.limits import MAX_NAME_LENGTH


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """The same moment in UTC; a naive time is taken to be UTC already (what SQLite stores)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def iso_utc(moment: dt.datetime) -> str:
    """The one text form of a time in answers and results: UTC to the microsecond, with its offset."""
    return as_utc(moment).isoformat(timespec="microseconds")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A time column that always hands back an aware UTC datetime (SQLite drops the zone; PostgreSQL keeps
    it in the session's zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else as_utc(value)


# An id is never given twice, even after a delete (an old link or download token must not open a new row):
# PostgreSQL sequences never go back; SQLite needs AUTOINCREMENT. Tables created by an older version keep
# SQLite's default (the largest id + 1) until the database is recreated.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, dt.datetime: UtcDateTime()}


class Collection(Base):
    """A registered set of labelled images with a stored split (rows and files appear in one commit)."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("name", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(20))  # "zip" | "cvat"
    mode: Mapped[str] = mapped_column(String(10), default="single", server_default="single")  # | "multi"
    classes: Mapped[list[Any]] = mapped_column(default=list)
    num_images: Mapped[int] = mapped_column(default=0)
    splits: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"train": {"cls": n}, "val": {...}}
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dataset doctor / import report
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)  # where it came from (file, CVAT task)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    images: Mapped[list[Image]] = relationship(
        back_populates="collection", cascade="all, delete-orphan", passive_deletes=True
    )


class Image(Base):
    """One image of a collection: its class, its split and its file (relative to the collection dir)."""

    __tablename__ = "images"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    split: Mapped[str] = mapped_column(String(10))  # "train" | "val" | "test"
    label: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))  # multi-label: the first of ``labels``
    labels: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # multi-label collections only
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    collection: Mapped[Collection] = relationship(back_populates="images")


class Job(Base):
    """Background work (training, CVAT import, tagging, deployment) and its live state."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)  # see jobs.store.claim_job
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Model(Base):
    """A trained (or training) classifier. Status and progress are its job's."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    architecture: Mapped[str] = mapped_column(String(100))
    collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL"), default=None
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    classes: Mapped[list[Any]] = mapped_column(default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(lazy="joined")


class Deployment(Base):
    """A model version deployed as a Nuclio function for CVAT."""

    __tablename__ = "deployments"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    function_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(30))  # deploying | ready | error | removed
    message: Mapped[str | None] = mapped_column(Text, default=None)
    in_cvat: Mapped[bool | None] = mapped_column(Boolean, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# ---- The closed loop (cvat_bridge/loops): one loop per model and CVAT project, its rounds ------------------
class Loop(Base):
    """A closed loop: a model scores a CVAT project's untagged frames, people review the least certain, the
    model is retrained and redeployed. ``model_id`` is the version that scores the next round."""

    __tablename__ = "loops"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), default=None)
    project_id: Mapped[int] = mapped_column()  # CVAT project
    task_id: Mapped[int | None] = mapped_column(default=None)  # CVAT task: only its frames are scored
    strategy: Mapped[str] = mapped_column(String(30))  # margin | least_confidence | entropy | random
    budget: Mapped[int] = mapped_column()  # frames sent to review per round
    auto_tag_threshold: Mapped[float] = mapped_column()  # confident frames are tagged source "auto"
    auto_retrain: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_deploy: Mapped[bool] = mapped_column(Boolean, default=True)
    deploy_margin: Mapped[float] = mapped_column(default=0.0)  # deploy when new >= old - margin
    review_done: Mapped[str] = mapped_column(String(20), default="completed")  # completed | acceptance
    assignee_id: Mapped[int | None] = mapped_column(default=None)  # CVAT user the review tasks go to
    webhook_id: Mapped[int | None] = mapped_column(default=None)  # CVAT webhook, when registered
    webhook_secret: Mapped[str] = mapped_column(String(64))
    webhook_note: Mapped[str | None] = mapped_column(Text, default=None)  # why there is none (polling)
    state: Mapped[str] = mapped_column(String(20), default="active")  # active | stopped
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LoopRound(Base):
    """One round of a loop: scores, the review task, and the retraining's outcome (state: loops/rounds.py)."""

    __tablename__ = "loop_rounds"
    __table_args__ = (UniqueConstraint("loop_id", "number"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    loop_id: Mapped[int] = mapped_column(ForeignKey("loops.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    state: Mapped[str] = mapped_column(String(20))
    model_id: Mapped[int | None] = mapped_column(default=None)  # the version that scored this round
    scored: Mapped[int] = mapped_column(default=0)  # candidate frames scored
    auto_tagged: Mapped[int] = mapped_column(default=0)
    selected: Mapped[list[Any]] = mapped_column(default=list)  # frames sent to review, with their scores
    review_task_id: Mapped[int | None] = mapped_column(default=None)
    review_job_id: Mapped[int | None] = mapped_column(default=None)
    reviewed: Mapped[int | None] = mapped_column(default=None)  # review tags confirmed by people
    collection_id: Mapped[int | None] = mapped_column(default=None)
    new_model_id: Mapped[int | None] = mapped_column(default=None)
    old_accuracy: Mapped[float | None] = mapped_column(default=None)
    new_accuracy: Mapped[float | None] = mapped_column(default=None)
    compared_on: Mapped[int | None] = mapped_column(default=None)  # validation images both were scored on
    labelled: Mapped[int | None] = mapped_column(default=None)  # images in the retraining's collection
    deployed_model_id: Mapped[int | None] = mapped_column(default=None)
    decision: Mapped[str | None] = mapped_column(Text, default=None)  # why (not) deployed, or the failure
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# ---- end of the closed loop's tables ---------------------------------------------------------------------


RowT = TypeVar("RowT", bound=Base)


class Database:
    """Engine and session factory for one database URL; brings its schema to the newest revision first."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        connect_args = {"check_same_thread": False, "timeout": 30} if is_sqlite else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrations.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._pid = os.getpid()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        self._after_fork()
        with self._sessions.begin() as session:
            yield session

    def get(self, row_type: type[RowT], row_id: int, missing: Exception) -> RowT:
        """The row of ``row_type`` with this id; raises ``missing`` when there is none."""
        with self.session() as session:
            row = session.get(row_type, row_id)
        if row is None:
            raise missing
        return row

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A plain connection, for reads on a hot path (no ORM session to begin, flush and commit)."""
        self._after_fork()
        with self.engine.connect() as connection:
            yield connection

    def _after_fork(self) -> None:
        if os.getpid() != self._pid:  # a forked job process must not share its parent's connections
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
