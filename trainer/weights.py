"""Pretrained weights, offline-aware: the cache under TORCH_HOME first, a download only when allowed.

When the file is neither cached nor downloadable, `WeightsMissing` names the exact file, the folder to
put it in, and the alternative (`pretrained: false`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from trainer.catalogue import LocalWeights, WeightsFile, get_architecture

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 20.0
DOWNLOAD_ENV = "CVAT_BRIDGE_WEIGHTS_DOWNLOAD"  # "0": never try the network, use the cache only


class WeightsMissing(Exception):
    """Pretrained weights are not in the cache and could not be downloaded."""

    def __init__(self, architecture: str, weights: WeightsFile, reason: str) -> None:
        self.architecture = architecture
        self.weights = weights
        source = f" (download it from {weights.url})" if weights.url else ""
        super().__init__(
            f"pretrained weights for {architecture} are not available ({reason}): put the file "
            f"{weights.file_name}{source} into the folder {weights.folder}, or run `cvat-bridge weights add "
            f"FILE --architecture {architecture}`; or train with pretrained: false"
        )


def downloads_allowed() -> bool:
    return os.environ.get(DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def resolve_state_dict(
    architecture: str,
    weights: WeightsFile,
    fetch: Callable[[], dict[str, Any]],
    download: bool = True,
    local: Sequence[LocalWeights] = (),
) -> dict[str, Any]:
    """The pretrained state dict: the first of `local` (installed packages, other caches), else `fetch()`
    loads it (from the cache, or downloading into it).

    Without a cached file, fetch is only tried when download is allowed; any failure then counts as missing.
    """
    for found in local:
        try:
            return found.load(found.path)
        except Exception as exc:  # noqa: BLE001 - a broken package or cache entry: say which
            raise WeightsMissing(
                architecture, weights, f"the weights from {found.source} ({found.path}) do not load: {exc}"
            ) from exc
    if not os.path.isfile(weights.path):
        if not (download and downloads_allowed()):
            raise WeightsMissing(architecture, weights, "they are not on this machine, and downloads are off")
        try:
            with _socket_timeout(DOWNLOAD_TIMEOUT_SECONDS):
                return fetch()
        except Exception as exc:  # noqa: BLE001 - DNS, proxy, HTTP, hash: all mean "not downloadable"
            log.warning("downloading %s failed: %s", weights.url or weights.file_name, exc)
            raise WeightsMissing(
                architecture, weights, "they are not on this machine and could not be downloaded"
            ) from exc
    try:
        return fetch()
    except Exception as exc:  # noqa: BLE001
        raise WeightsMissing(
            architecture, weights, f"the cached file {weights.path} does not load: {exc}"
        ) from exc


def add_weights_file(source: Path, architecture: str) -> Path:
    """Put a user-supplied weights file where the architecture's loader finds it, after checking it fits.

    A file that does not load as the architecture's state dict is refused with what was expected.
    """
    spec = get_architecture(architecture)
    expected = spec.weights_file()
    try:
        spec.load_weights_file(str(source))
    except ValueError as exc:
        origin = f" ({expected.url})" if expected.url else ""
        raise ValueError(
            f"{exc}. Expected the ImageNet weights of {architecture}: the file {expected.file_name}{origin}"
        ) from exc
    target = Path(expected.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target


def hash_mismatch(source: Path, weights: WeightsFile) -> str | None:
    """When the expected file name carries a SHA-256 prefix (torchvision's `name-<hash>.pth`) that source's
    content does not have: a sentence saying so (the file still fits the architecture); else None."""
    match = re.search(r"-([0-9a-f]{8,64})\.pth$", weights.file_name)
    if match is None:
        return None
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest.startswith(match.group(1)):
        return None
    return (
        f"its SHA-256 starts with {digest[: len(match.group(1))]}, not {match.group(1)} as the official "
        f"{weights.file_name}: other weights of the same shape (they load, so they are installed)"
    )


def load_error(exc: Exception) -> str:
    """A one-line reason why a weights file does not load (torch's messages span many lines)."""
    text = str(exc).strip()
    if text.startswith("Error(s) in loading state_dict"):
        parts = []
        for line in text.splitlines():
            keys = re.findall(r'"([^"]+)"', line)
            for what in ("Missing", "Unexpected"):
                if line.strip().startswith(f"{what} key(s)") and keys:
                    parts.append(f"{len(keys)} {what.lower()} keys (e.g. {keys[0]})")
        shapes = re.findall(
            r"size mismatch for ([^:]+): copying a param with shape (.+?) from checkpoint, "
            r"the shape in current model is (.+?)\.?$",
            text,
            re.M,
        )
        if shapes:
            name, got, wanted = shapes[0]
            parts.append(f"{len(shapes)} shapes differ (e.g. {name}: {got} in the file, {wanted} expected)")
        return "its tensors do not match: " + "; ".join(parts) if parts else text.splitlines()[0]
    if text.startswith("Weights only load failed") or "invalid load key" in text:
        return "it is not a file torch.save wrote (torch.load cannot read it)"
    return text.splitlines()[0] if text else type(exc).__name__


def load_state_dict_file(path: str) -> dict[str, Any]:
    """A state dict saved with torch.save (tensors only; plain or under a "state_dict"/"model" key)."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(data, dict):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), dict):
                data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path} is not a state dict of tensors")
    return data


class _socket_timeout:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._previous: float | None = None

    def __enter__(self) -> None:
        self._previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self._seconds)

    def __exit__(self, *exc_info: object) -> None:
        socket.setdefaulttimeout(self._previous)
