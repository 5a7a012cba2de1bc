"""Where things live under the data directory.

<data_dir>/
  cvat-bridge.sqlite3     default database
  api-token               generated API token (mode 0600)
  collections/<id>/       a collection's files, stored byte for byte as uploaded
  models/<id>/            a trained model's artifacts (see trainer.artifacts)
  staging/                work in progress; a failed or crashed import leaves nothing elsewhere
    <owner>/              one process's staging folders; <owner>.lock beside it is flock-ed while it lives
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO

from cvat_bridge.settings import Settings

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or quota) is full: an OSError, or the database's word for it."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    text = str(getattr(exc, "orig", exc)).lower()
    return "database or disk is full" in text or "no space left on device" in text


LOCK_SUFFIX = ".lock"
# staging dir -> (pid, owner folder, its locked file): one owner folder per process and data dir.
_owners: dict[Path, tuple[int, Path, IO[bytes]]] = {}
_owners_lock = threading.Lock()


def _owner_dir(staging_dir: Path) -> Path:
    """This process's owner folder in staging_dir, created with its lock (held until the process ends)."""
    with _owners_lock:
        owned = _owners.get(staging_dir)
        if owned is not None and owned[0] == os.getpid():  # a forked child makes its own
            return owned[1]
        folder = staging_dir / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Locked under a temporary name, then renamed: a sweep never sees the lock unheld.
        temporary = staging_dir / f".{folder.name}{LOCK_SUFFIX}"
        lock_file = open(temporary, "wb")  # noqa: SIM115 - open for the life of the process
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        folder.mkdir()
        temporary.rename(folder.with_name(folder.name + LOCK_SUFFIX))
        _owners[staging_dir] = (os.getpid(), folder, lock_file)
        return folder


def _unowned(lock: Path) -> bool:
    """Whether no live process holds this owner lock (its process died)."""
    try:
        with open(lock, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except FileNotFoundError:
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


class Storage:
    """Paths of the data directory; creates the folders it hands out."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir.resolve()
        for folder in (self.root, self.collections_dir, self.models_dir, self.staging_dir):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def collections_dir(self) -> Path:
        return self.root / "collections"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    @property
    def token_file(self) -> Path:
        return self.root / "api-token"

    def collection_dir(self, collection_id: int) -> Path:
        return self.collections_dir / str(collection_id)

    def model_dir(self, model_id: int) -> Path:
        return self.models_dir / str(model_id)

    def new_staging_dir(self, prefix: str) -> Path:
        """A fresh folder on the same file system as the final places, so a rename publishes it. It lies in
        this process's owner folder, which is swept as soon as the process is gone."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=_owner_dir(self.staging_dir)))

    def sweep_staging(self, older_than_seconds: float) -> list[Path]:
        """Remove what crashed processes left in staging: owner folders whose lock no live process holds,
        and other entries older than older_than_seconds (from before owner folders)."""
        cutoff = time.time() - older_than_seconds
        swept = []
        for path in list(self.staging_dir.iterdir()):
            lock = path.with_name(path.name + LOCK_SUFFIX)
            if path.name.endswith(LOCK_SUFFIX):
                if not path.with_name(path.name.removesuffix(LOCK_SUFFIX)).exists() and _unowned(path):
                    path.unlink(missing_ok=True)  # an owner that never staged anything
            elif lock.exists():
                if _unowned(lock):
                    self.remove(path)
                    lock.unlink(missing_ok=True)
                    swept.append(path)
            elif _mtime(path) < cutoff:
                if path.is_dir():
                    self.remove(path)
                else:
                    path.unlink(missing_ok=True)
                swept.append(path)
        return swept

    @staticmethod
    def remove(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
