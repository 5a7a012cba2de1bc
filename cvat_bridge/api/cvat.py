"""/api routes: cvat."""

from fastapi import APIRouter

router = APIRouter(tags=["cvat"])
