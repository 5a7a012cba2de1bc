"""A cvat-bridge image classifier served as a Nuclio function that CVAT runs for automatic annotation.

CVAT sends one JSON body per frame, ``{"image": "<base64 of the frame>", "threshold": 0.5}`` (threshold left
out when 0), and gets back the frame's tag: ``[{"label": <class>, "type": "tag", "attributes": [...]}]`` when
the most likely class reaches the threshold, ``[]`` otherwise. A body or image we cannot read is answered
400 with ``{"detail": "..."}``.

This folder is rendered per model version: ``model/`` holds the artifacts (``model.json``, ``model.onnx``,
``model.int8.onnx`` for a model trained with ``int8``, ``weights.pt``), ``cvat_bridge/runtime/`` the service's
own image reading and ONNX Runtime code (a verbatim copy) and ``trainer/`` the service's model builders (for
the GPU function). The CPU function (``function.yaml``) serves ONNX Runtime (the int8 model where there is
one); the GPU one (``function-gpu.yaml``, environment ``CVAT_BRIDGE_DEVICE=cuda``) serves torch.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cvat_bridge.runtime.imaging import DEFAULT_MAX_PIXELS, ImageReadError, Preprocessing, open_image

MODEL_DIR = Path(__file__).resolve().parent / "model"
CONFIDENCE_ATTRIBUTE = "confidence"  # number attribute 0-100 declared on every spec label


class BadRequest(ValueError):
    """The request cannot be answered as it is; the message says why."""


def init_context(context: Any) -> None:
    """Load the model once per worker: ONNX Runtime on the CPU, or torch when CVAT_BRIDGE_DEVICE names one."""
    device = os.environ.get("CVAT_BRIDGE_DEVICE", "cpu")
    if device == "cpu":
        from cvat_bridge.runtime.onnx_classifier import OnnxClassifier

        classifier = OnnxClassifier(MODEL_DIR, threads=int(os.environ.get("CVAT_BRIDGE_THREADS", "1")))
    else:
        from torch_classifier import TorchClassifier

        classifier = TorchClassifier(MODEL_DIR, device)
    context.user_data.classifier = classifier
    context.user_data.max_pixels = int(os.environ.get("CVAT_BRIDGE_MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS))
    context.logger.info_with("model loaded", device=device, classes=len(classifier.classes))


def handler(context: Any, event: Any) -> Any:
    """One frame in, its tag (or nothing) out."""
    classifier = context.user_data.classifier
    try:
        image, threshold = read_request(event.body, context.user_data.max_pixels, classifier.preprocessing)
    except BadRequest as exc:
        return _json_response(context, {"detail": str(exc)}, 400)
    probabilities = classifier.predict_images([image])[0]
    return _json_response(context, tags(probabilities, classifier.classes, threshold), 200)


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


def tags(probabilities: np.ndarray, classes: list[str], threshold: float) -> list[dict[str, Any]]:
    """The top class as a CVAT tag with its confidence (0-100), or [] when it is below the threshold."""
    top = int(np.argmax(probabilities))
    confidence = float(probabilities[top])
    if confidence < threshold:
        return []
    return [
        {
            "label": classes[top],
            "type": "tag",
            "confidence": round(confidence, 4),
            "attributes": [{"name": CONFIDENCE_ATTRIBUTE, "value": str(round(100 * confidence))}],
        }
    ]


def _json_response(context: Any, payload: Any, status: int) -> Any:
    return context.Response(
        body=json.dumps(payload), headers={}, content_type="application/json", status_code=status
    )
