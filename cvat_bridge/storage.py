"""Where things live under the data directory.

<data_dir>/
  cvat-bridge.sqlite3     default database
  api-token               generated API token (mode 0600)
  collections/<id>/       a collection's files, stored byte for byte as uploaded
  models/<id>/            a trained model's artifacts (see trainer.artifacts)
  staging/                work in progress; a failed or crashed import leaves nothing elsewhere
"""

from __future__ import annotations

import errno
import shutil
import tempfile
import time
from pathlib import Path

from cvat_bridge.settings import Settings

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or quota) is full: an OSError, or the database's word for it."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    text = str(getattr(exc, "orig", exc)).lower()
    return "database or disk is full" in text or "no space left on device" in text


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
        """A fresh folder on the same file system as the final places, so a rename publishes it."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.staging_dir))

    def sweep_staging(self, older_than_seconds: float) -> list[Path]:
        """Remove staging folders left by crashed imports (old enough that no import can still own them)."""
        cutoff = time.time() - older_than_seconds
        stale = [path for path in self.staging_dir.iterdir() if path.stat().st_mtime < cutoff]
        for path in stale:
            if path.is_dir():
                self.remove(path)
            else:
                path.unlink(missing_ok=True)
        return stale

    @staticmethod
    def remove(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
