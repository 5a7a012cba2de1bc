"""Tag a 500-frame CVAT task (on the CVAT stand-in) with one small model, three ways, and compare frames/s:

- bridge:    cvat-bridge's own driver (``cvat_bridge.cvat.annotate``, the service's "annotate" job): frames
             downloaded in chunks, JPEGs decoded at a reduced scale, predicted in batches, tags written in
             bulk;
- cvat-sdk:  cvat-sdk's own driver, ``cvat_sdk.auto_annotation.annotate_task``, running the project's
             function module (``cvat_bridge.cvat.cli_function``, what ``cvat-cli task auto-annotate`` runs):
             the SDK downloads the chunks into its cache, decodes every frame at full size and calls the
             function once per frame, then writes all tags at once;
- per-frame: how CVAT's lambda manager drives a Nuclio function: one HTTP POST per frame with the base64
             original frame (``{"image", "threshold"}``), the function predicts that one image and answers
             ``[{"label", "type": "tag"}]``; results written back every 100 frames. Frames are read through
             the same chunk downloads (CVAT reads them from its own storage), so only the calls differ.
             The function runs in a process of its own (uvicorn), as a Nuclio function has its container.

All three decide each frame's tag with the runtime's one tag builder (``cvat_bridge.runtime.tags``).

    python bench/annotate/run.py [--frames 500] [--frame-size 640x480]   # trains a tiny model first (~1 min)
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import cvat_sdk.auto_annotation as cvataa  # noqa: E402
import httpx  # noqa: E402
from cvat_sdk import Client, Config, models  # noqa: E402
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402

from cvat_bridge.cvat import cli_function  # noqa: E402
from cvat_bridge.cvat.annotate import annotate_task  # noqa: E402
from cvat_bridge.cvat.client import connect  # noqa: E402
from cvat_bridge.cvat.frames import iter_frames  # noqa: E402
from cvat_bridge.runtime.classifier import classify  # noqa: E402
from cvat_bridge.runtime.imaging import open_image  # noqa: E402
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier  # noqa: E402
from cvat_bridge.runtime.tags import frame_tag  # noqa: E402
from cvat_bridge.services import Services, set_services  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.helpers.images import class_image, image_bytes  # noqa: E402
from tests.helpers.models import train_tiny_model  # noqa: E402
from tests.standins import free_port  # noqa: E402
from tests.standins.cvat import CvatStandin  # noqa: E402

CLASSES = ["red", "green", "blue"]
SAVE_EVERY = 100  # CVAT's lambda manager saves results every 100 frames


def serve_function(model_dir: Path, port: int) -> None:
    """The function in a process of its own, as a Nuclio function runs in its own container."""
    import uvicorn

    uvicorn.run(function_app(model_dir), host="127.0.0.1", port=port, log_level="warning")


def start_function(model_dir: Path) -> tuple[multiprocessing.Process, str]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_function, args=(model_dir, port), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "docs", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the function server did not start")


def function_app(model_dir: Path) -> FastAPI:
    """A Nuclio-like detector over HTTP: one base64 image in, its tag out (the model loaded once)."""
    classifier = OnnxClassifier(model_dir, threads=1)
    app = FastAPI()

    @app.post("/")
    async def handler(request: Request) -> list[dict]:
        body = await request.json()
        data = base64.b64decode(body["image"])
        image = open_image(data, min_short_side=classifier.preprocessing.resize_size)
        tag = frame_tag(classify(classifier, [image])[0], classifier.classes, body.get("threshold", 0.0))
        return [tag.to_nuclio()] if tag else []

    return app


def per_frame(client, task_id: int, function_url: str) -> int:
    """CVAT's lambda-manager loop: one synchronous function call per frame, saving every 100 frames."""
    task = client.tasks.retrieve(task_id)
    label_ids = {label.name: label.id for label in task.get_labels()}
    frames = [f for f in range(task.size) if f not in set(task.get_meta().deleted_frames)]
    pending, tagged = [], 0
    with httpx.Client(timeout=120) as http:
        for frame, data in iter_frames(task, frames):
            answer = http.post(function_url, json={"image": base64.b64encode(data).decode()})
            pending += [
                models.LabeledImageRequest(frame=frame, label_id=label_ids[i["label"]], source="auto")
                for i in answer.json()
                if i["label"] in label_ids
            ]
            if len(pending) >= SAVE_EVERY or frame == frames[-1]:
                task.update_annotations(
                    models.PatchedLabeledDataRequest(tags=pending), action=AnnotationUpdateAction.CREATE
                )
                tagged += len(pending)
                pending = []
    return tagged


def sdk_driver(cvat: CvatStandin, task_id: int, model_dir: Path, cache_dir: Path) -> None:
    """cvat-sdk's own driver with the project's function module, as `cvat-cli task auto-annotate` runs it
    (a fresh SDK cache, so its chunk downloads are counted as the bridge's are)."""
    with Client(cvat.url, config=Config(cache_dir=cache_dir)) as client:
        client.login((cvat.username, cvat.password))
        function = cli_function.create(str(model_dir))
        cvataa.annotate_task(client, task_id, function, conf_threshold=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--frame-size", default="64x48", help="WxH of the JPEG frames (e.g. 640x480)")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.frame_size.lower().split("x"))

    work = Path(tempfile.mkdtemp(prefix="bench-annotate-"))
    cvat = CvatStandin()
    images = [
        (f"frame_{i:05d}.jpg", image_bytes(class_image(CLASSES[i % 3], i).resize(size)))
        for i in range(args.frames)
    ]
    ways = ("bridge", "cvat-sdk", "per-frame")
    tasks = {way: cvat.add_task(f"bench-{way}", images, labels=CLASSES) for way in ways}
    with cvat:
        settings = make_settings(
            work / "data", cvat_url=cvat.url, cvat_username=cvat.username, cvat_password=cvat.password
        )
        services = Services(settings)
        set_services(services)
        started = time.perf_counter()
        model_id = train_tiny_model(services)
        print(f"trained the tiny model (resnet18, 32 px, 3 classes) in {time.perf_counter() - started:.0f} s")
        model_dir = services.storage.model_dir(model_id)

        results = {}
        with connect(settings) as client:
            started = time.perf_counter()
            bridge = annotate_task(
                services, client, model_id=model_id, task_id=tasks["bridge"], threshold=0.0
            )
            results["bridge (chunks + batches + bulk write)"] = (
                bridge["frames_tagged"],
                time.perf_counter() - started,
            )
            started = time.perf_counter()
            sdk_driver(cvat, tasks["cvat-sdk"], model_dir, work / "sdk-cache")
            results["cvat-sdk annotate_task + cli_function"] = (
                sum(map(len, cvat.tags_by_frame(tasks["cvat-sdk"]).values())),
                time.perf_counter() - started,
            )
            function, function_url = start_function(model_dir)
            try:
                started = time.perf_counter()
                tagged = per_frame(client, tasks["per-frame"], function_url)
                results["per-frame HTTP calls (CVAT lambda style)"] = (tagged, time.perf_counter() - started)
            finally:
                function.terminate()

    tags = {way: cvat.tags_by_frame(task) for way, task in tasks.items()}
    agree = {
        way: sum(tags["bridge"].get(f, [])[:1] == tags[way].get(f, [])[:1] for f in range(args.frames))
        for way in ways[1:]
    }
    print(f"\n{args.frames}-frame task ({args.frame_size} JPEGs), same model, same ONNX Runtime threads (1)")
    print(f"{'path':<44} {'tagged':>7} {'seconds':>8} {'frames/s':>9}")
    rates = []
    for name, (tagged, seconds) in results.items():
        rates.append(args.frames / seconds)
        print(f"{name:<44} {tagged:>7} {seconds:>8.2f} {rates[-1]:>9.1f}")
    print(
        f"\nthe bridge's driver: {rates[0] / rates[1]:.1f}x cvat-sdk's driver (same tag on "
        f"{agree['cvat-sdk']} of {args.frames} frames), {rates[0] / rates[2]:.1f}x per-frame calls "
        f"(target >= 5x; same tag on {agree['per-frame']} of {args.frames} frames)"
    )


if __name__ == "__main__":
    main()
