"""/api routes: functions."""

from fastapi import APIRouter

router = APIRouter(tags=["functions"])
