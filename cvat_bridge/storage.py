"""Where things live under the data directory.

<data_dir>/
  cvat-bridge.sqlite3     default database
  api-token               generated API token (mode 0600)
  collections/<id>/       a collection's files, stored byte for byte as uploaded; .thumbnails/ (thumbnails.py)
  models/<id>/            a trained model's artifacts (see trainer.artifacts)
  staging/                work in progress; a failed or crashed import leaves nothing elsewhere
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

from cvat_bridge.settings import Settings

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# "@host~pid namespace+pid+start." in a staging folder's name: the process that owns it (start: clock ticks
# since boot, so a recycled pid, e.g. pid 1 of a restarted container, is told apart).
_OWNER = re.compile(r"@(?P<host>[^+@]+)\+(?P<pid>\d+)\+(?P<start>\d+)\.")


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or quota) is full: an OSError, or the database's word for it."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    text = str(getattr(exc, "orig", exc)).lower()
    return "database or disk is full" in text or "no space left on device" in text


def _owner_tag() -> str:
    return f"@{_pid_space()}+{os.getpid()}+{_start_time(os.getpid())}"


def _pid_space() -> str:
    """Where this process's pids mean something: the host name and the pid namespace (containers sharing a
    data dir, even with one host name, do not see each other's pids)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}~{namespace}"


def _start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot, /proc); None if it does not exist (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _owner_gone(name: str) -> bool:
    """Whether the name carries an owner on this host that no longer runs (False when unknown)."""
    owner = _OWNER.search(name)
    if owner is None or owner["host"] != _pid_space() or _start_time(os.getpid()) is None:
        return False
    return _start_time(int(owner["pid"])) != int(owner["start"])


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
        """A fresh folder on the same file system as the final places, so a rename publishes it. Its name
        names this process (host, pid, start time): a sweep can tell when its owner is gone."""
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{_owner_tag()}.", dir=self.staging_dir))

    def sweep_staging(self, older_than_seconds: float) -> list[Path]:
        """Remove what crashed processes left in staging: entries whose owner process (on this host) is gone,
        and any older than older_than_seconds (other hosts' leftovers, and those from before owner tags)."""
        cutoff = time.time() - older_than_seconds
        swept = []
        for path in list(self.staging_dir.iterdir()):
            if _owner_gone(path.name) or _mtime(path) < cutoff:
                if path.is_dir():
                    self.remove(path)
                else:
                    path.unlink(missing_ok=True)
                swept.append(path)
        return swept

    @staticmethod
    def remove(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
