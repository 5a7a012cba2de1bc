"""The function's handler, called as Nuclio calls it (nuclio-sdk's test platform), with a model trained in
the test session: CVAT's request in, the frame's tag out; bad requests get a 400 with a JSON message."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nuclio_sdk
import pytest
from PIL import Image

from cvat_bridge.runtime.onnx_classifier import OnnxClassifier, cuda_available
from tests.helpers.images import class_image, image_bytes
from tests.serverless.conftest import CLASSES
from tests.standins.nuclio import load_handler

pytestmark = pytest.mark.slow  # the session's models are trained once, in about a minute


def b64(image: Image.Image, fmt: str = "JPEG") -> str:
    return base64.b64encode(image_bytes(image, fmt)).decode()


@pytest.fixture
def call(function_folder: Path):
    handler = load_handler(function_folder, unique=f"function_under_test_{id(function_folder)}")

    def call(body, content_type: str = "application/json"):
        response = handler(nuclio_sdk.Event(body=body, content_type=content_type, path="/", method="POST"))
        return response.status_code, json.loads(response.body)

    return call


@pytest.mark.parametrize("label", CLASSES)
def test_clear_images_get_their_class_as_a_tag(call, label: str) -> None:
    # A frame as CVAT sends it: a new 640x480 JPEG of the class (unseen seeds), JSON body with a threshold.
    status, items = call({"image": b64(class_image(label, 9_000 + len(label), (640, 480))), "threshold": 0.5})

    assert status == 200
    assert len(items) == 1
    item = items[0]
    assert (item["label"], item["type"]) == (label, "tag")
    [confidence] = item["attributes"]
    assert confidence["name"] == "confidence"
    assert confidence["value"].isnumeric()  # CVAT keeps a number attribute only if its value isnumeric()
    assert 50 <= int(confidence["value"]) <= 100


def test_bytes_body_and_png_work_like_json(call) -> None:
    body = json.dumps({"image": b64(class_image("blue", 4242), "PNG"), "threshold": 0.5}).encode()

    status, items = call(body, content_type="application/octet-stream")

    assert status == 200
    assert [item["label"] for item in items] == ["blue"]


def test_below_threshold_gives_no_tag_and_no_threshold_always_tags(call, function_folder: Path) -> None:
    gray = Image.new("RGB", (64, 48), (128, 128, 128))  # no colour class fits: a hesitant answer
    [probabilities] = OnnxClassifier(function_folder / "model").predict_images([gray])
    top = float(probabilities.max())
    assert top < 0.999, "the test needs an image the model is not certain of"

    assert call({"image": b64(gray), "threshold": (top + 1) / 2}) == (200, [])
    status, items = call({"image": b64(gray), "threshold": top / 2})
    assert status == 200 and len(items) == 1
    status, items = call({"image": b64(gray)})  # CVAT leaves the threshold out when it is 0
    assert status == 200 and len(items) == 1
    assert items[0]["label"] == CLASSES[int(probabilities.argmax())]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json at all", "not JSON"),
        (b"", "JSON object"),
        ({"threshold": 0.5}, '"image"'),
        (["image"], "JSON object"),
        ({"image": "%%% not base64 %%%"}, "base64"),
        ({"image": base64.b64encode(b"GIF89a but truncated").decode()}, "not an image"),
        ({"image": "", "threshold": 0.5}, "not an image"),
        ({"image": b64(class_image("red", 1)), "threshold": 1.5}, "threshold"),
        ({"image": b64(class_image("red", 1)), "threshold": "high"}, "threshold"),
    ],
)
def test_bad_requests_get_a_400_with_a_json_message(call, body, expected: str) -> None:
    status, answer = call(body, "application/json" if isinstance(body, dict | list) else "text/plain")

    assert status == 400
    assert expected in answer["detail"]
    # The function keeps working after a bad request.
    assert call({"image": b64(class_image("green", 77))})[1][0]["label"] == "green"


@pytest.mark.parametrize("variant", ["function_folder", "gpu_function_folder"])
def test_each_variant_runs_on_its_own_folder_without_torch(
    request: pytest.FixtureRequest, variant: str
) -> None:
    """In a fresh interpreter that sees only the folder (no cvat-bridge checkout on the path) and cannot
    import torch, torchvision, timm or the trainer, the handler answers from the folder's own runtime copy;
    on a machine without a GPU the GPU variant's ONNX Runtime serves on the CPU provider."""
    function_folder: Path = request.getfixturevalue(variant)
    script = textwrap.dedent(f"""
        import base64, io, json, sys
        sys.path = [p for p in sys.path if not p.startswith({str(Path.cwd())!r})]
        sys.path.insert(0, {str(function_folder)!r})
        for name in ("torch", "torchvision", "timm", "trainer"):
            sys.modules[name] = None  # import <name>: ImportError
        import nuclio_sdk, nuclio_sdk.test
        from PIL import Image
        import main, cvat_bridge.runtime.tags
        for module in (main, cvat_bridge.runtime.tags):
            assert module.__file__.startswith({str(function_folder)!r}), module.__file__
        image = Image.new("RGB", (64, 48), (200, 40, 40))
        buffer = io.BytesIO(); image.save(buffer, "JPEG")
        event = nuclio_sdk.Event(body={{"image": base64.b64encode(buffer.getvalue()).decode()}},
                                 content_type="application/json")
        platform = nuclio_sdk.test.Platform()
        response = platform.call_handler(main.handler, event)
        context = platform._get_handler_context(main.handler)  # the one init_context filled
        answer = {{"status": response.status_code, "body": json.loads(response.body)}}
        print(json.dumps({{**answer, "device": context.user_data.classifier.device}}))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd="/", capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200
    assert [item["label"] for item in answer["body"]] == ["red"]
    assert answer["device"] == ("cuda" if cuda_available() else "cpu")
