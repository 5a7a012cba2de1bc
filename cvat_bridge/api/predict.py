"""/api/models/{id}/predict: class and confidence of one or more uploaded images."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cvat_bridge.api.deps import ModelId, services
from cvat_bridge.services import Services
from cvat_bridge.serving import BadImage, ModelNotFound, ModelNotReady, get_predictor, read_images

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


# The answer is documented by PredictAnswer and built in the worker thread as JSON: validating it again
# against the model on the event loop would cost more than it checks.
@router.post("/models/{model_id}/predict", responses={200: {"model": PredictAnswer}})
async def predict(
    model_id: ModelId,
    file: list[UploadFile] = File(default=[], description="one or more images, in the order of the answer"),
    top_k: int = Form(5, ge=1, le=1000, description="how many of the most likely classes to list"),
    threshold: float = Form(0.0, ge=0.0, le=1.0, description="below this confidence the label is null"),
    svc: Services = Depends(services),
) -> JSONResponse:
    """`{"predictions": [{"label", "confidence", "top_k": [{"label", "confidence"}, ...]}, ...]}`.

    The form is parsed on the event loop; everything else runs in one worker thread (a sync route would cost
    a second thread hop to validate its answer: ~0.4 ms each on a small VM, next to a few ms of inference).
    """
    return await run_in_threadpool(_predict, svc, model_id, file, top_k, threshold)


def _predict(
    svc: Services, model_id: int, file: list[UploadFile], top_k: int, threshold: float
) -> JSONResponse:
    try:
        predictor = get_predictor(svc, model_id)
    except ModelNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except ModelNotReady as exc:
        raise HTTPException(409, str(exc)) from exc
    if not file:
        raise HTTPException(422, "send one or more images as multipart 'file' parts")
    limit = svc.settings.max_predict_files
    if len(file) > limit:
        raise HTTPException(413, f"{len(file)} files in one request; send at most {limit}")
    try:
        images = read_images(
            ((upload.filename or "upload", upload.file.read()) for upload in file),
            svc.settings.max_image_pixels,
            predictor.preprocessing.resize_size,
        )
    except BadImage as exc:
        raise HTTPException(422, str(exc)) from exc
    predictions = predictor.predict(images, top_k=top_k, threshold=threshold)
    return JSONResponse({"predictions": [prediction.to_dict() for prediction in predictions]})
