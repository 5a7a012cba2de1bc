"""``get_predictor``: a trained model's predictor, cached (bounded LRU) and never stale.

Each call checks the model (``model_lookup.get_ready_model``: ``ModelNotFound``, ``ModelNotReady``) and the
files' fingerprint, so a model retrained or replaced in place is loaded afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from cvat_bridge.model_lookup import ModelNotFound, get_ready_model
from cvat_bridge.services import Services
from cvat_bridge.serving.backends import load_predictor
from cvat_bridge.serving.predictor import Predictor
from trainer import artifacts


class PredictorCache:
    """At most ``size`` predictors, least recently used dropped first; thread-safe."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[tuple, Predictor]] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time; hits never wait for it

    def get(self, model_dir: Path, fingerprint: tuple, size: int, threads: int) -> Predictor:
        key = str(model_dir)
        predictor = self._lookup(key, fingerprint)
        if predictor is not None:
            return predictor
        with self._load_lock:
            predictor = self._lookup(key, fingerprint)  # another thread may have loaded it meanwhile
            if predictor is None:
                predictor = load_predictor(model_dir, threads)
                with self._lock:
                    self._entries[key] = (fingerprint, predictor)
                    while len(self._entries) > max(1, size):
                        self._entries.popitem(last=False)
        return predictor

    def _lookup(self, key: str, fingerprint: tuple) -> Predictor | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != fingerprint:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def forget(self, model_dir: Path) -> None:
        with self._lock:
            self._entries.pop(str(model_dir), None)

    def __len__(self) -> int:
        return len(self._entries)


cache = PredictorCache()


def fingerprint(model_dir: Path, job_id: str) -> tuple:
    """Identity of the model's files: a retrained or replaced model gets a different one."""
    stats = []
    for name in artifacts.SERVED:
        try:
            stat = (model_dir / name).stat()
        except FileNotFoundError:
            stats.append(None)
        else:
            stats.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return (job_id, *stats)


def get_predictor(services: Services, model_id: int) -> Predictor:
    """The predictor of a trained model (cached). Raises ModelNotFound or ModelNotReady."""
    try:
        model = get_ready_model(services, model_id)
    except ModelNotFound:
        cache.forget(services.storage.model_dir(model_id))
        raise
    settings = services.settings
    return cache.get(
        model.model_dir,
        fingerprint(model.model_dir, model.job_id),
        settings.predictor_cache_size,
        settings.inference_threads,
    )
