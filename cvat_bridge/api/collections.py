"""/api routes: collections."""

from fastapi import APIRouter

router = APIRouter(tags=["collections"])
