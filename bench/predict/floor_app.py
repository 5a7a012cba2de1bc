"""The least a Python ASGI service does per prediction, for comparison: Starlette on uvicorn, the multipart
form parsed, decode + ONNX Runtime in one worker thread, a JSON answer; no auth, checks, ranking or logs.
``/predict-on-the-loop`` skips the worker thread, which no service should (it stalls every other request).

bench/predict/run.py serves it beside cvat-bridge (same models, same image, one thread) to show how much of
the HTTP time any such service pays on the machine at hand:

    FLOOR_DATA_DIR=<data dir> uvicorn floor_app:app --app-dir bench/predict --no-access-log
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cvat_bridge.runtime.imaging import open_image, preprocess
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier


@cache
def classifier(model_id: int) -> OnnxClassifier:
    return OnnxClassifier(Path(os.environ["FLOOR_DATA_DIR"]) / "models" / str(model_id), threads=1)


def classify(model_id: int, data: bytes) -> bytes:
    model = classifier(model_id)
    spec = model.preprocessing
    probabilities = model.probabilities(
        preprocess(open_image(data, min_short_side=spec.resize_size), spec)[None]
    )
    return json.dumps({"probabilities": probabilities[0].tolist()}).encode()


async def predict(request: Request) -> Response:
    form = await request.form()
    data = await form["file"].read()
    answer = await run_in_threadpool(classify, request.path_params["model_id"], data)
    return Response(answer, media_type="application/json")


async def predict_on_the_loop(request: Request) -> Response:
    """The same without the worker thread: no hop, but every other request waits while it runs."""
    form = await request.form()
    data = await form["file"].read()
    return Response(classify(request.path_params["model_id"], data), media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status": "ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/predict/{model_id:int}", predict, methods=["POST"]),
        Route("/predict-on-the-loop/{model_id:int}", predict_on_the_loop, methods=["POST"]),
        Route("/health", health),
    ]
)
