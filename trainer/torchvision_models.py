"""torchvision's classification models: their catalogue entries (from the weights' metadata, for
`trainer.catalogue_build`), building them and loading their weights (torch: workers only)."""

from __future__ import annotations

import os
from typing import Any

from torch import nn
from torchvision.models import WeightsEnum, get_model, get_model_weights

from trainer.catalogue import ArchitectureSpec
from trainer.heads import replace_classifier
from trainer.weights import load_error, load_state_dict_file, resolve_state_dict

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
FIXED_SIZE = {"vit_b_16"}  # position embeddings fix the input size
MIN_SIZE = 32


def describe(name: str) -> dict[str, Any]:
    """The catalogue entry of a torchvision model: its DEFAULT weights' metadata and transform."""
    weights: WeightsEnum = get_model_weights(name).DEFAULT
    meta = weights.meta
    imagenet = meta.get("_metrics", {}).get("ImageNet-1K", {})
    transform = weights.transforms()
    crop_size = int(transform.crop_size[0])
    return {
        "name": name,
        "source": "torchvision",
        "model": name,
        "family": name.rstrip("0123456789_").split("_")[0],
        "weights": str(weights).split(".", 1)[1],
        "num_params": meta["num_params"],
        "gflops": meta.get("_ops"),
        "imagenet_acc1": imagenet.get("acc@1"),
        "imagenet_acc5": imagenet.get("acc@5"),
        "native_size": crop_size,
        "resize_size": int(transform.resize_size[0]),
        "min_size": max(MIN_SIZE, *meta.get("min_size", (1, 1))),
        "fixed_size": name in FIXED_SIZE,
        "preprocessing": {
            "crop_size": crop_size,
            "resize_size": int(transform.resize_size[0]),
            "mean": list(transform.mean),
            "std": list(transform.std),
            "interpolation": transform.interpolation.value,
        },
        "weights_file": os.path.basename(weights.url),
        "weights_url": weights.url,
        "weights_file_mb": meta.get("_file_size"),
        "recipe": meta.get("recipe"),
        "description": " ".join(meta.get("_docs", "").split()),
    }


def build_pretrained(spec: ArchitectureSpec, pretrained: bool, download: bool = True) -> nn.Module:
    model = get_model(spec.model_name, weights=None)
    if pretrained:
        weights = get_model_weights(spec.model_name).DEFAULT
        state = resolve_state_dict(
            spec.name,
            spec.weights_file(),
            lambda: weights.get_state_dict(progress=False, check_hash=True),
            download=download,
        )
        model.load_state_dict(state)
    return model


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    return replace_classifier(model, num_classes)


def load_weights_file(spec: ArchitectureSpec, path: str) -> None:
    model = get_model(spec.model_name, weights=None)
    try:
        model.load_state_dict(load_state_dict_file(path))
    except Exception as exc:  # noqa: BLE001 - not a torch file, not a state dict, wrong shapes...
        raise ValueError(f"{path} is not a {spec.name} state dict: {load_error(exc)}") from exc
