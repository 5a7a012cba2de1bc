"""Images for the pages: a collection's images a page at a time, the files of its import report, a model's
validation predictions, and the thumbnails they link to.

The lists are behind the API token. Thumbnail URLs carry the collection's thumbnail token
(``auth.thumbnail_token``) in ``?token=``, since an ``<img>`` cannot send the bearer header; the thumbnail
routes take that token or the API token. Thumbnails are made once (``cvat_bridge.thumbnails``) and may be
cached by the browser for a year: an image id is never given twice.
"""

from __future__ import annotations

import pathlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel

from cvat_bridge.api.deps import Id, ModelId, services
from cvat_bridge.api.gate import gate
from cvat_bridge.api.schemas import file_answer
from cvat_bridge.auth import bearer_token, thumbnail_token, token_matches, token_refusal
from cvat_bridge.db import Collection, Image
from cvat_bridge.errors import Invalid, NotFound
from cvat_bridge.gallery import image_ids, image_page, predictions_page, report_files
from cvat_bridge.ingest.store import CollectionNotFound, get_collection
from cvat_bridge.limits import MAX_ID
from cvat_bridge.model_lookup import get_model
from cvat_bridge.runtime.imaging import ImageReadError
from cvat_bridge.services import Services
from cvat_bridge.thumbnails import image_thumbnail, skipped_thumbnail

router = APIRouter(tags=["images"])

MAX_PAGE = 200
CACHE_CONTROL = "private, max-age=31536000, immutable"
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


class ImageItem(BaseModel):
    id: int
    path: str
    label: str
    split: str
    width: int
    height: int
    thumbnail: str


class ImagePage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[ImageItem]


class SkippedFile(BaseModel):
    path: str
    kind: str
    reason: str
    thumbnail: str | None  # kept at import time when the file was still a readable picture


class DuplicateImage(BaseModel):
    path: str
    id: int | None
    thumbnail: str | None


class DuplicateGroup(BaseModel):
    sha256: str
    count: int
    images: list[DuplicateImage]


class ReportFiles(BaseModel):
    skipped: list[SkippedFile]
    skipped_total: int
    duplicates: list[DuplicateGroup]
    duplicate_groups: int


class Prediction(BaseModel):
    path: str
    true: str
    predicted: str
    confidence: float
    image_id: int | None
    thumbnail: str | None  # None once the model's collection is deleted


class PredictionPage(BaseModel):
    total: int
    offset: int
    limit: int
    collection_id: int | None
    items: list[Prediction]


def _thumbnail_url(request: Request, collection: Collection, image_id: int | str) -> str:
    token = thumbnail_token(request.app.state.api_token, collection.id, collection.created_at)
    return f"/api/thumbnails/{collection.id}/{image_id}?token={token}"


@router.get("/collections/{collection_id}/images")
def read_images(
    request: Request,
    collection_id: Id,
    offset: Offset = 0,
    limit: Limit = 48,
    split: Literal["train", "val", "test"] | None = None,
    label: str | None = None,
    svc: Services = Depends(services),
) -> ImagePage:
    """A page of the collection's images (import order), of one split and/or class, with thumbnail URLs."""
    collection = get_collection(svc, collection_id)
    page = image_page(svc, collection_id, split=split, label=label, offset=offset, limit=limit)
    items = [
        ImageItem(**row.__dict__, thumbnail=_thumbnail_url(request, collection, row.id)) for row in page.rows
    ]
    return ImagePage(total=page.total, offset=offset, limit=limit, items=items)


@router.get("/collections/{collection_id}/report-files")
def read_report_files(request: Request, collection_id: Id, svc: Services = Depends(services)) -> ReportFiles:
    """The skipped files (with a thumbnail where one was kept at import) and duplicate groups of the import
    report (the first 200 of each, as the report lists them)."""
    collection = get_collection(svc, collection_id)
    files = report_files(svc, collection)

    def url(image_id: int | str | None) -> str | None:
        return None if image_id is None else _thumbnail_url(request, collection, image_id)

    skipped = [
        SkippedFile(
            path=item["path"],
            kind=item["kind"],
            reason=item["reason"],
            thumbnail=url(None if item["thumbnail_index"] is None else f"skipped/{item['thumbnail_index']}"),
        )
        for item in files["skipped"]
    ]
    duplicates = [
        DuplicateGroup(
            sha256=group["sha256"],
            count=group["count"],
            images=[
                DuplicateImage(path=i["path"], id=i["id"], thumbnail=url(i["id"])) for i in group["images"]
            ],
        )
        for group in files["duplicates"]
    ]
    return ReportFiles(
        skipped=skipped,
        skipped_total=files["skipped_total"],
        duplicates=duplicates,
        duplicate_groups=files["duplicate_groups"],
    )


@router.get("/models/{model_id}/predictions")
def read_predictions(
    request: Request,
    model_id: ModelId,
    true: str | None = None,
    predicted: str | None = None,
    mistakes: bool = False,
    offset: Offset = 0,
    limit: Limit = 24,
    svc: Services = Depends(services),
) -> PredictionPage:
    """The model's validation predictions (predictions.json), most confident first: one confusion-matrix cell
    (``true`` and ``predicted``), a row or column, or ``mistakes`` only; each with its image's thumbnail."""
    model = get_model(svc, model_id)
    page = predictions_page(
        svc, model_id, true=true, predicted=predicted, mistakes=mistakes, offset=offset, limit=limit
    )
    try:
        collection = get_collection(svc, model.collection_id) if model.collection_id else None
    except CollectionNotFound:
        collection = None
    ids = image_ids(svc, collection.id, [row["path"] for row in page.rows]) if collection else {}
    items = [
        Prediction(
            **row,
            image_id=ids.get(row["path"]),
            thumbnail=_thumbnail_url(request, collection, ids[row["path"]]) if row["path"] in ids else None,
        )
        for row in page.rows
    ]
    return PredictionPage(
        total=page.total,
        offset=offset,
        limit=limit,
        collection_id=collection.id if collection else None,
        items=items,
    )


def thumbnail_access(request: Request, svc: Services = Depends(services)) -> Collection:
    """The collection, if the request holds its thumbnail token (``?token=``) or the API token (bearer);
    401 otherwise (also for a collection that does not exist, unless the API token is held: then 404).
    A dependency, so the token is checked before the path is validated (no 422 to anyone without it)."""
    api_token = request.app.state.api_token
    holds_api_token = token_refusal(request.headers.get("authorization"), api_token) is None
    raw_id = request.path_params["collection_id"]  # not validated yet: a bad one names no collection
    collection_id = int(raw_id) if raw_id.isdigit() and 1 <= int(raw_id) <= MAX_ID else None
    try:
        collection = get_collection(svc, collection_id) if collection_id else None
    except CollectionNotFound:
        if holds_api_token:
            raise
        collection = None
    presented = request.query_params.get("token") or bearer_token(request.headers.get("authorization"))
    if holds_api_token or (
        collection is not None
        and presented
        and token_matches(presented, thumbnail_token(api_token, collection.id, collection.created_at))
    ):
        return collection
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or wrong token: send this collection's thumbnail token (?token=) or the API token",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _cached(request: Request, path: pathlib.Path) -> Response:
    """The thumbnail file, cacheable for a year; 304 when the browser holds this very file."""
    stat = path.stat()
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type="image/jpeg", headers=headers, stat_result=stat)


# 304 when the browser holds the very file (its ETag).
_THUMBNAIL_ANSWER = {
    **file_answer("image/jpeg", "the thumbnail"),
    304: {"description": "not modified: the browser holds this very file"},
}


@router.get(
    "/thumbnails/{collection_id}/{image_id}", response_class=FileResponse, responses=_THUMBNAIL_ANSWER
)
@gate(open=True)
def read_thumbnail(
    request: Request,
    collection_id: Id,
    image_id: Id,
    collection: Collection = Depends(thumbnail_access),
    svc: Services = Depends(services),
) -> Response:
    """A JPEG of one image of the collection, at most 192 px on its longer side (made on first request)."""
    with svc.db.session() as session:
        image = session.get(Image, image_id)
        path = image.path if image is not None and image.collection_id == collection.id else None
    if path is None:
        raise NotFound(f"collection {collection_id} has no image {image_id}")
    folder = svc.storage.collection_dir(collection.id)
    try:
        thumbnail = image_thumbnail(folder, image_id, path, svc.settings.max_image_pixels)
    except ImageReadError as exc:
        raise Invalid(f"{path}: {exc}") from None
    return _cached(request, thumbnail)


@router.get(
    "/thumbnails/{collection_id}/skipped/{index}", response_class=FileResponse, responses=_THUMBNAIL_ANSWER
)
@gate(open=True)
def read_skipped_thumbnail(
    request: Request,
    collection_id: Id,
    index: Annotated[int, PathParam(ge=0, le=10_000)],
    collection: Collection = Depends(thumbnail_access),
    svc: Services = Depends(services),
) -> Response:
    """The thumbnail kept at import time of the report's index-th skipped file (404 when none was kept)."""
    thumbnail = skipped_thumbnail(svc.storage.collection_dir(collection.id), index)
    if thumbnail is None:
        raise NotFound(f"no thumbnail was kept of skipped file {index} of collection {collection_id}")
    return _cached(request, thumbnail)
