"""/api/models/{id}/predict: class and confidence of one or more uploaded images."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from cvat_bridge.api.deps import ModelId, multipart_form, services
from cvat_bridge.api.gate import gate
from cvat_bridge.errors import Invalid, TooLarge
from cvat_bridge.limits import FORM_ROOM, MAX_FIELD_BYTES, MAX_FORM_FIELDS
from cvat_bridge.model_lookup import get_ready_model
from cvat_bridge.services import Services
from cvat_bridge.serving import get_predictor
from cvat_bridge.serving.inputs import check_pixels, read_inputs
from cvat_bridge.settings import Settings

router = APIRouter(tags=["predict"])


class ClassScoreOut(BaseModel):
    label: str
    confidence: float


class PredictionOut(BaseModel):
    label: str | None  # null below the threshold
    confidence: float
    top_k: list[ClassScoreOut]


class PredictAnswer(BaseModel):
    predictions: list[PredictionOut]  # in upload order


class PredictOptions(BaseModel):
    """The form's fields besides the files."""

    top_k: int = Field(5, ge=1, le=1000, description="how many of the most likely classes to list")
    threshold: float = Field(0.0, ge=0.0, le=1.0, description="below this confidence the label is null")


_PREDICT_FORM = multipart_form(
    ["file"],
    {
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "one or more images, in the order of the answer",
        },
        **PredictOptions.model_json_schema()["properties"],
    },
)


def request_limit(settings: Settings) -> int:
    """The body limit of a predict request: its files at their limit, and the form around them."""
    return settings.max_predict_files * settings.max_predict_file_bytes + FORM_ROOM


# The answer is documented by PredictAnswer and built in the worker thread as JSON: validating it again
# against the model on the event loop would cost more than it checks.
@router.post(
    "/models/{model_id}/predict", responses={200: {"model": PredictAnswer}}, openapi_extra=_PREDICT_FORM
)
@gate(body_limit=request_limit)
async def predict(model_id: ModelId, request: Request, svc: Services = Depends(services)) -> JSONResponse:
    """`{"predictions": [{"label", "confidence", "top_k": [{"label", "confidence"}, ...]}, ...]}`.

    The form is parsed on the event loop (files spooled to disk; the number of files and fields and the
    size of each field bounded); everything else runs in one worker thread.
    """
    form = await _form(request, svc.settings)
    try:
        options = PredictOptions.model_validate(
            {key: form[key] for key in ("top_k", "threshold") if key in form}
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    files = [part for part in form.getlist("file") if isinstance(part, UploadFile)]
    return await run_in_threadpool(_predict, svc, model_id, files, options)


async def _form(request: Request, settings: Settings) -> FormData:
    """The multipart form, within its bounds (413 past one of them)."""
    limit = settings.max_predict_files
    try:
        return await request.form(max_files=limit, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES)
    except StarletteHTTPException as exc:  # Starlette answers a form past a bound 400: it is too large
        if exc.status_code == 400 and str(exc.detail).startswith(
            ("Too many files", "Too many fields", "Part")
        ):
            raise HTTPException(413, f"{exc.detail} (send at most {limit} files per request)") from None
        raise


def _predict(svc: Services, model_id: int, files: list[UploadFile], options: PredictOptions) -> JSONResponse:
    """Check the model and the files (cheap: nothing decoded or loaded), then load, decode and predict."""
    get_ready_model(svc, model_id)
    if not files:
        raise Invalid("send one or more images as multipart 'file' parts")
    settings = svc.settings
    for upload in files:
        if (upload.size or 0) > settings.max_predict_file_bytes:
            limit = settings.max_predict_file_bytes
            raise TooLarge(f"{upload.filename}: {upload.size} bytes, more than the limit of {limit}")
    named = [(upload.filename or "upload", upload.file) for upload in files]
    check_pixels(named, settings.max_predict_pixels)
    predictor = get_predictor(svc, model_id)
    inputs = read_inputs(named, settings.max_image_pixels, predictor.preprocessing)
    predictions = predictor.predict_inputs(inputs, top_k=options.top_k, threshold=options.threshold)
    return JSONResponse({"predictions": [prediction.to_dict() for prediction in predictions]})
