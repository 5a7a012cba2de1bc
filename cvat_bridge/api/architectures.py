"""/api/architectures: the catalogue of fine-tunable models with their details (static data: no torch)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from trainer.catalogue import catalogue

router = APIRouter(tags=["architectures"])


class ArchitecturePreprocessing(BaseModel):
    """Its ImageNet evaluation preprocessing: resize the short side, centre crop, normalise."""

    crop_size: int
    resize_size: int
    mean: list[float]
    std: list[float]
    interpolation: str


class Architecture(BaseModel):
    """One architecture of the catalogue (the catalogue may carry more details than these)."""

    model_config = ConfigDict(extra="allow")

    name: str  # what POST /api/models takes ("resnet18", "timm/tf_efficientnet_lite0")
    source: Literal["torchvision", "timm"]
    model: str  # the library's own name
    family: str
    weights: str
    num_params: int
    gflops: float | None
    imagenet_acc1: float | None
    imagenet_acc5: float | None
    native_size: int  # px, the input size of its ImageNet weights
    resize_size: int
    min_size: int
    fixed_size: bool  # true: it takes its native size only
    preprocessing: ArchitecturePreprocessing
    weights_file: str
    weights_url: str | None
    weights_file_mb: float | None
    weights_cached: bool  # whether this machine has the weights file
    weights_source: str | None  # where this machine has it from
    recipe: str | None
    description: str
    crop_pct: float | None = None  # timm's
    hf_hub_id: str | None = None  # timm's


@router.get("/architectures")
def list_architectures() -> list[Architecture]:
    """Every architecture: source, parameters, GFLOPs, ImageNet acc@1/acc@5, native size, preprocessing,
    weights file (and whether this machine has it)."""
    return [Architecture.model_validate(details) for details in catalogue()]
