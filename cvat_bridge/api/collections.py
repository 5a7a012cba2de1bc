"""/api/collections: upload a zip folder tree as a new collection, list, read and delete collections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from cvat_bridge.api.deps import Id, multipart_form, scalar_fields, services
from cvat_bridge.api.gate import gate
from cvat_bridge.ingest.registry import (
    CollectionInUse,
    CollectionNotFound,
    ImportRefused,
    collection_to_dict,
    delete_collection,
    get_collection,
    list_collections,
)
from cvat_bridge.ingest.upload import UploadError, UploadTooLarge, receive_upload
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.limits import FORM_ROOM
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage

router = APIRouter(tags=["collections"])

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
async def create_collection(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
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
            raise HTTPException(400, "attach the zip as the form field 'file'")
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
    except UploadTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except UploadError as exc:
        raise HTTPException(400, str(exc)) from None
    except ImportRefused as exc:
        raise HTTPException(422, str(exc)) from None
    finally:
        Storage.remove(folder)
    return collection_to_dict(collection)


@router.get("/collections")
def read_collections(svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """Every collection, newest first, with a summary of its report (counts; the lists of skipped files and
    duplicate groups are in GET /api/collections/{id})."""
    return [
        {**collection_to_dict(collection), "report": scalar_fields(collection.report)}
        for collection in list_collections(svc)
    ]


@router.get("/collections/{collection_id}")
def read_collection(collection_id: Id, svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        return collection_to_dict(get_collection(svc, collection_id))
    except CollectionNotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.delete("/collections/{collection_id}", status_code=204)
def remove_collection(collection_id: Id, svc: Services = Depends(services)) -> Response:
    try:
        delete_collection(svc, collection_id)
    except CollectionNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except CollectionInUse as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


def _number(fields: dict[str, str], name: str, kind: type[float] | type[int], default: float) -> Any:
    """A numeric form field, or its default when absent or empty."""
    text = fields.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise HTTPException(400, f"{name} must be {expected}, got {text!r}") from None
