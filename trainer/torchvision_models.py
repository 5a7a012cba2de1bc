"""torchvision's classification models as catalogue entries (details from the weights' metadata)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torchvision.models import WeightsEnum, get_model, get_model_weights

from cvat_bridge.runtime.imaging import Preprocessing
from trainer.catalogue import (
    TORCHVISION_ARCHITECTURES,
    ArchitectureSpec,
    WeightsFile,
    register,
)

FIXED_SIZE = {"vit_b_16"}  # position embeddings fix the input size


class TorchvisionArchitecture(ArchitectureSpec):
    source = "torchvision"

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def _weights(self) -> WeightsEnum:
        return get_model_weights(self.name).DEFAULT

    def _native(self) -> dict[str, Any]:
        transform = self._weights.transforms()
        return {
            "crop_size": int(transform.crop_size[0]),
            "resize_size": int(transform.resize_size[0]),
            "mean": tuple(transform.mean),
            "std": tuple(transform.std),
            "interpolation": transform.interpolation.value,
        }

    def details(self) -> dict[str, Any]:
        weights = self._weights
        meta = weights.meta
        imagenet = meta.get("_metrics", {}).get("ImageNet-1K", {})
        native = self._native()
        weights_file = self.weights_file()
        return {
            "family": self.name.rstrip("0123456789_").split("_")[0],
            "weights": str(weights).split(".", 1)[1],
            "num_params": meta["num_params"],
            "gflops": meta.get("_ops"),
            "imagenet_acc1": imagenet.get("acc@1"),
            "imagenet_acc5": imagenet.get("acc@5"),
            "native_size": native["crop_size"],
            "resize_size": native["resize_size"],
            "min_size": self._min_size(),
            "fixed_size": self.name in FIXED_SIZE,
            "weights_file": weights_file.file_name,
            "weights_file_mb": meta.get("_file_size"),
            "weights_cached": os.path.isfile(weights_file.path),
            "recipe": meta.get("recipe"),
            "description": " ".join(meta.get("_docs", "").split()),
        }

    def preprocessing(self, image_size: int | None = None) -> Preprocessing:
        native = self._native()
        crop = image_size or native["crop_size"]
        # Keep the native resize/crop ratio (e.g. 256/224) at any size.
        resize = round(crop * native["resize_size"] / native["crop_size"])
        return Preprocessing(
            crop_size=crop,
            resize_size=resize,
            mean=native["mean"],
            std=native["std"],
            interpolation=native["interpolation"],
        )

    def check_image_size(self, image_size: int) -> str | None:
        native = self._native()["crop_size"]
        if self.name in FIXED_SIZE and image_size != native:
            return f"{self.name} takes {native}x{native} images only (image_size {native})"
        minimum = self._min_size()
        if image_size < minimum:
            return f"{self.name} needs image_size >= {minimum}"
        return None

    def _min_size(self) -> int:
        return max(32, *self._weights.meta.get("min_size", (1, 1)))

    def weights_file(self) -> WeightsFile:
        url = self._weights.url
        folder = os.path.join(torch.hub.get_dir(), "checkpoints")
        return WeightsFile(file_name=os.path.basename(url), folder=folder, url=url)

    def build_pretrained(self, pretrained: bool, download: bool = True) -> nn.Module:
        from trainer.weights import resolve_state_dict

        model = get_model(self.name, weights=None)
        if pretrained:
            weights = self._weights
            state = resolve_state_dict(
                self.name,
                self.weights_file(),
                lambda: weights.get_state_dict(progress=False, check_hash=True),
                download=download,
            )
            model.load_state_dict(state)
        return model

    def load_weights_file(self, path: str) -> None:
        from trainer.weights import load_error, load_state_dict_file

        model = get_model(self.name, weights=None)
        try:
            model.load_state_dict(load_state_dict_file(path))
        except Exception as exc:  # noqa: BLE001 - not a torch file, not a state dict, wrong shapes...
            raise ValueError(f"{path} is not a {self.name} state dict: {load_error(exc)}") from exc


def register_all() -> None:
    for name in TORCHVISION_ARCHITECTURES:
        register(TorchvisionArchitecture(name))
