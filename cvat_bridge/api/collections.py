"""/api/collections: upload a zip folder tree as a new collection, list, read and delete collections."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from cvat_bridge.api.deps import Id, multipart_form, scalar_fields, services
from cvat_bridge.api.gate import gate
from cvat_bridge.api.schemas import Timestamp
from cvat_bridge.errors import BadRequest
from cvat_bridge.ingest.store import (
    collection_to_dict,
    delete_collection,
    get_collection,
    list_collections,
)
from cvat_bridge.ingest.upload import receive_upload
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.limits import FORM_ROOM
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage

router = APIRouter(tags=["collections"])


class CollectionOut(BaseModel):
    """A collection; in lists, ``report`` holds only its counts (the item route has the lists)."""

    model_config = ConfigDict(extra="forbid")  # built from collection_to_dict(): new keys are declared here

    id: int
    name: str
    version: int
    source: str  # "zip" | "cvat"
    mode: Literal["single", "multi"]  # multi: an image may carry several classes
    num_images: int
    classes: list[str]
    splits: dict[str, dict[str, int]]  # {"train": {class: images}, "val": {...}, "test": {...}}
    report: dict[str, Any]  # the import report of the dataset doctor
    provenance: dict[str, Any]  # where it came from (file name, CVAT server and task)
    created_at: Timestamp


_UPLOAD_FORM = multipart_form(
    ["file", "name"],
    {
        "file": {"type": "string", "format": "binary", "description": "the zip"},
        "name": {"type": "string"},
        "val_ratio": {"type": "number", "default": 0.3},
        "seed": {"type": "integer", "default": 0},
        "mode": {
            "type": "string",
            "enum": ["single", "multi"],
            "description": "default: multi with a labels.csv",
        },
    },
)


@router.post("/collections", status_code=201, openapi_extra=_UPLOAD_FORM)
@gate(body_limit=lambda settings: settings.max_upload_bytes + FORM_ROOM)
async def create_collection(request: Request, svc: Services = Depends(services)) -> CollectionOut:
    """Upload a zip (multipart: ``file``, ``name``, optional ``val_ratio``, ``seed``) as a new collection."""
    limit = svc.settings.max_upload_bytes
    folder = svc.storage.new_staging_dir("upload-")
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            folder / "upload.zip",
            file_field="file",
            max_bytes=limit,
        )
        if upload.path is None:
            raise BadRequest("attach the zip as the form field 'file'")
        collection = await run_in_threadpool(
            import_zip,
            svc,
            upload.path,
            name=upload.fields.get("name", ""),
            filename=upload.filename,
            val_ratio=_number(upload.fields, "val_ratio", float, 0.3),
            seed=_number(upload.fields, "seed", int, 0),
            mode=upload.fields.get("mode") or None,
        )
    finally:
        Storage.remove(folder)
    return CollectionOut.model_validate(collection_to_dict(collection))


@router.get("/collections")
def read_collections(svc: Services = Depends(services)) -> list[CollectionOut]:
    """Every collection, newest first, with a summary of its report (counts; the lists of skipped files and
    duplicate groups are in GET /api/collections/{id})."""
    return [
        CollectionOut.model_validate(
            {**collection_to_dict(collection), "report": scalar_fields(collection.report)}
        )
        for collection in list_collections(svc)
    ]


@router.get("/collections/{collection_id}")
def read_collection(collection_id: Id, svc: Services = Depends(services)) -> CollectionOut:
    return CollectionOut.model_validate(collection_to_dict(get_collection(svc, collection_id)))


@router.delete("/collections/{collection_id}", status_code=204, response_class=Response)
def remove_collection(collection_id: Id, svc: Services = Depends(services)) -> None:
    """Delete a collection's rows and files; 409 while a queued or running training uses it."""
    delete_collection(svc, collection_id)


def _number(fields: dict[str, str], name: str, kind: type[float] | type[int], default: float) -> Any:
    """A numeric form field, or its default when absent or empty."""
    text = fields.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise BadRequest(f"{name} must be {expected}, got {text!r}") from None
