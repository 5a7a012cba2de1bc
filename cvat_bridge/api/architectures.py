"""/api/architectures: the catalogue of fine-tunable models with their details."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter(tags=["architectures"])


@router.get("/architectures")
def list_architectures() -> list[dict[str, Any]]:
    """Every architecture: source, parameters, GFLOPs, ImageNet acc@1/acc@5, native size, weights file."""
    from trainer.catalogue import catalogue

    return catalogue()
