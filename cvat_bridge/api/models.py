"""/api routes: models."""

from fastapi import APIRouter

router = APIRouter(tags=["models"])
