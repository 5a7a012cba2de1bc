"""/api routes: architectures."""

from fastapi import APIRouter

router = APIRouter(tags=["architectures"])
