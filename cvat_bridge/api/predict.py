"""/api routes: predict."""

from fastapi import APIRouter

router = APIRouter(tags=["predict"])
