"""A cvat-bridge image classifier served as a Nuclio function that CVAT runs for automatic annotation.

CVAT sends one JSON body per frame, ``{"image": "<base64 of the frame>", "threshold": 0.5}`` (threshold left
out when 0), and gets back the frame's tag: ``[{"label": <class>, "type": "tag", "attributes": [...]}]`` when
the most likely class reaches the threshold, ``[]`` otherwise. A body or image we cannot read is answered
400 with ``{"detail": "..."}``.

This folder is rendered per model version, in the shape of CVAT's own ONNX functions: ``main.py``,
``cvat_bridge/runtime/`` (a verbatim copy of the service's runtime: image reading, ONNX Runtime, the tag
builder) and ``model/`` (``model.json``, ``model.onnx``, and ``model.int8.onnx`` for a model trained with
``int8``). Both variants serve ``model.onnx`` on ONNX Runtime: the CPU function (``function.yaml``,
``onnxruntime``) on the CPU provider, the GPU one (``function-gpu.yaml``, ``onnxruntime-gpu`` on a CUDA base
image) on the CUDA provider.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image

from cvat_bridge.runtime.classifier import classify
from cvat_bridge.runtime.imaging import DEFAULT_MAX_PIXELS, ImageReadError, Preprocessing, open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.runtime.tags import frame_tags

MODEL_DIR = Path(__file__).resolve().parent / "model"


class BadRequest(ValueError):
    """The request cannot be answered as it is; the message says why."""


def init_context(context: Any) -> None:
    """Load the model once per worker: the CUDA provider when this ONNX Runtime has it, else the CPU."""
    classifier = OnnxClassifier(MODEL_DIR, threads=int(os.environ.get("CVAT_BRIDGE_THREADS", "1")))
    context.user_data.classifier = classifier
    context.user_data.max_pixels = int(os.environ.get("CVAT_BRIDGE_MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS))
    context.logger.info_with(
        "model loaded", device=classifier.device, int8=classifier.int8, classes=len(classifier.classes)
    )


def handler(context: Any, event: Any) -> Any:
    """One frame in, its tags out: single-label, the top class or nothing; multi-label, one per label above
    its threshold."""
    classifier = context.user_data.classifier
    try:
        image, threshold = read_request(event.body, context.user_data.max_pixels, classifier.preprocessing)
    except BadRequest as exc:
        return _json_response(context, {"detail": str(exc)}, 400)
    row = classify(classifier, [image])[0]
    tags = frame_tags(row, classifier.classes, threshold, classifier.label_thresholds)
    return _json_response(context, [tag.to_nuclio() for tag in tags], 200)


def read_request(body: Any, max_pixels: int, preprocessing: Preprocessing) -> tuple[Image.Image, float]:
    """The image and threshold of a request body (a dict when sent as JSON, bytes or str otherwise); the
    image decoded as the model's evaluation reads it (``preprocessing``)."""
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f'the body is not JSON ({exc}); send {{"image": "<base64>"}}') from exc
    if not isinstance(body, dict) or not isinstance(body.get("image"), str):
        raise BadRequest('the body must be a JSON object with "image": the base64 of an image file')
    try:
        data = base64.b64decode(body["image"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f'"image" is not valid base64 ({exc})') from exc
    try:
        image = open_image(data, max_pixels, preprocessing.resize_size)
    except ImageReadError as exc:
        raise BadRequest(f'"image" is not an image we can read: {exc}') from exc
    threshold = body.get("threshold") or 0.0
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise BadRequest(f'"threshold" must be a number from 0 to 1, not {threshold!r}')
    return image, float(threshold)


def _json_response(context: Any, payload: Any, status: int) -> Any:
    return context.Response(
        body=json.dumps(payload), headers={}, content_type="application/json", status_code=status
    )
