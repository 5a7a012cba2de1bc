"""/api/architectures: the catalogue of fine-tunable models with their details (static data: no torch)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from trainer.catalogue import catalogue

router = APIRouter(tags=["architectures"])


@router.get("/architectures")
def list_architectures() -> list[dict[str, Any]]:
    """Every architecture: source, parameters, GFLOPs, ImageNet acc@1/acc@5, native size, preprocessing,
    weights file (and whether this machine has it)."""
    return catalogue()
