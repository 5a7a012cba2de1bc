"""Prediction speed on one thread: raw ONNX Runtime, eager torch, and the HTTP predict round trip.

    python bench/predict/run.py [--calls 60] [--warmup 10] [--architectures mobilenet_v3_small resnet18]
                                [--data path/to/hymenoptera_data]

Each architecture gets randomly initialised weights (speed only), exported with the trainer's ONNX export
into a throwaway data dir; `cvat-bridge serve` runs in a subprocess on 127.0.0.1 with one inference thread,
and beside it floor_app.py, the least an ASGI service does per prediction. Every path classifies the same
JPEG (the first of --data's val/bees). Targets: HTTP p50 <= 1.15 x (raw ORT + decode), torch/ORT >= 2.
Reading the largest photo of --data is timed beside them, as served (decoded at a reduced scale) and at full
size, and so is the int8 copy of the model (the `int8` training setting; the HTTP path serves the float
model). Each model's float compute rate (GFLOP/s of ORT and eager torch) is printed beside a one-thread
SGEMM's, this core's practical ceiling. --data defaults to the subset in tests/data (photos of 256 px); the
README's figures were measured on the full hymenoptera_data (a 500x375 JPEG, a 2592x1944 camera photo).
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from cvat_bridge.db import Model
from cvat_bridge.jobs.store import claim_job, create_job, finish_job
from cvat_bridge.runtime.imaging import Preprocessing, open_image, preprocess
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from cvat_bridge.settings import Settings
from trainer.artifacts import WEIGHTS, save_torch, write_json
from trainer.catalogue import get_architecture
from trainer.export import export_onnx

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "data" / "hymenoptera_data"
TOKEN = "bench-token"
CLASSES = ["ants", "bees"]


def interleaved_timings(
    calls: dict[str, Callable[[], object]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per call of each path; the paths take turns, so a busy machine slows them all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for iteration in range(warmup + repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if iteration >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


@dataclass(frozen=True)
class Photos:
    jpeg: Path  # what every path classifies
    photo: Path  # the largest: how reading scales to CVAT-sized frames

    @classmethod
    def of(cls, data: Path) -> Photos:
        largest = max(data.rglob("*.jpg"), key=lambda path: math.prod(Image.open(path).size))
        return cls(sorted((data / "val" / "bees").glob("*.jpg"))[0], largest)


def add_model(services: Services, architecture: str, photos: Photos) -> int:
    """A succeeded model with random weights: model.json, weights.pt, model.onnx."""
    spec = get_architecture(architecture)
    torch.manual_seed(0)
    module = spec.build(len(CLASSES), pretrained=False).eval()
    preprocessing = spec.preprocessing()
    job_id = create_job(services.db, "train", {})
    claim_job(services.db, job_id)
    finish_job(services.db, job_id, "succeeded")
    with services.db.session() as session:
        model = Model(name=f"bench-{architecture}", architecture=architecture, classes=CLASSES, job_id=job_id)
        session.add(model)
        session.flush()
        model_id = model.id
    model_dir = services.storage.model_dir(model_id)
    model_dir.mkdir(parents=True)
    info = {
        "architecture": architecture,
        "source": spec.source,
        "classes": CLASSES,
        "preprocessing": preprocessing.to_dict(),
    }
    write_json(model_dir / "model.json", info)
    save_torch(module.state_dict(), model_dir / WEIGHTS)
    inputs = torch.from_numpy(preprocess(open_image(photos.jpeg.read_bytes()), preprocessing))[None]
    export_onnx(module, inputs, model_dir / "model.onnx")
    return model_id


def start_service(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """`cvat-bridge serve` on the data dir with one inference thread; the process and its base URL."""
    env = {
        "CVAT_BRIDGE_DATA_DIR": str(data_dir),
        "CVAT_BRIDGE_API_TOKEN": TOKEN,
        "CVAT_BRIDGE_INFERENCE_THREADS": "1",
    }
    return start_server(["-m", "cvat_bridge", "serve", "--port"], env, "/api/health")


def start_floor(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """floor_app.py on uvicorn (its defaults, no access log) over the same data dir."""
    command = ["-m", "uvicorn", "floor_app:app", "--app-dir", str(Path(__file__).parent), "--no-access-log"]
    return start_server([*command, "--port"], {"FLOOR_DATA_DIR": str(data_dir)}, "/health")


def start_server(arguments: list[str], env: dict[str, str], health: str) -> tuple[subprocess.Popen, str]:
    """`python <arguments> <free port>` with env; returns once GET <health> answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, *arguments, str(port)],
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base_url + health, timeout=1).raise_for_status()
            return server, base_url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{' '.join(arguments)} did not start")


class KeptAliveClient:
    """The standard library's http.client on one kept-alive connection: next to no client-side cost."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.connection = http.client.HTTPConnection(urlsplit(base_url).hostname, urlsplit(base_url).port)
        self.headers = headers

    def call(self, method: str, path: str, body: bytes | None = None) -> None:
        self.connection.request(method, path, body=body, headers=self.headers)
        answer = self.connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_architecture(
    services: Services, urls: tuple[str, str], model_id: int, photos: Photos, args: argparse.Namespace
) -> dict:
    from trainer.artifacts import load_torch_model

    model_dir = services.storage.model_dir(model_id)
    service_url, floor_url = urls
    calls, warmup = args.calls, args.warmup
    jpeg = photos.jpeg
    data = jpeg.read_bytes()
    classifier = OnnxClassifier(model_dir, threads=1)
    quantized = OnnxClassifier(int8_copy(model_dir, classifier.preprocessing, photos.jpeg), threads=1)
    module, _ = load_torch_model(model_dir)
    spec = classifier.preprocessing
    batch = preprocess(open_image(data, min_short_side=spec.resize_size), spec)[None]
    photo = photos.photo.read_bytes()
    tensor = torch.from_numpy(batch)

    def run_torch() -> None:
        with torch.inference_mode():
            module(tensor)

    # Two clients on kept-alive connections: httpx (what a Python program typically uses), and http.client
    # with a prebuilt multipart body (the service's own time).
    body, content_type = multipart_body(jpeg.name, data)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
    raw, floor = KeptAliveClient(service_url, headers), KeptAliveClient(floor_url, headers)
    predict_path = f"/api/models/{model_id}/predict"
    with httpx.Client(base_url=service_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        try:
            return interleaved_timings(
                {
                    "decode": lambda: preprocess(open_image(data, min_short_side=spec.resize_size), spec),
                    "photo": lambda: preprocess(open_image(photo, min_short_side=spec.resize_size), spec),
                    "photo_full": lambda: preprocess(open_image(photo), spec),
                    "ort": lambda: classifier.session.run(["logits"], {"input": batch}),
                    "int8": lambda: quantized.session.run(["logits"], {"input": batch}),
                    "torch": run_torch,
                    "http": lambda: raw.call("POST", predict_path, body),
                    "floor": lambda: floor.call("POST", f"/predict/{model_id}", body),
                    "on_loop": lambda: floor.call("POST", f"/predict-on-the-loop/{model_id}", body),
                    "health": lambda: raw.call("GET", "/api/health"),
                    "httpx": lambda: client.post(
                        predict_path, files={"file": (jpeg.name, data)}
                    ).raise_for_status(),
                    "httpx_health": lambda: client.get("/api/health").raise_for_status(),
                },
                calls,
                warmup,
            )
        finally:
            raw.connection.close()
            floor.connection.close()


def int8_copy(model_dir: Path, preprocessing: Preprocessing, jpeg: Path) -> Path:
    """A sibling folder with the model's int8 copy (as the `int8` training setting makes it), calibrated on
    hymenoptera train images; the served folder keeps the float model only."""
    from trainer.quantize import quantize_int8

    folder = model_dir.with_name(model_dir.name + "-int8")
    folder.mkdir()
    shutil.copy2(model_dir / "model.json", folder / "model.json")
    images = sorted((jpeg.parents[2] / "train").rglob("*.jpg"))[::16]
    calibration = [preprocess(open_image(path), preprocessing)[None] for path in images]
    quantize_int8(model_dir / "model.onnx", folder / "model.int8.onnx", calibration)
    return folder


def multipart_body(file_name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one 'file' part, and its Content-Type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def model_flops(architecture: str) -> float:
    """FLOPs (2 per multiply-add) of one image through the model at its native size."""
    spec = get_architecture(architecture)
    module = spec.build(len(CLASSES), pretrained=False).eval()
    size = spec.preprocessing().crop_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.zeros(1, 3, size, size))
    return counter.get_total_flops()


def sgemm_flops_per_second() -> float:
    """A one-thread 2048x2048 float32 matrix product in torch: a practical compute ceiling of this core."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds = min(interleaved_timings({"sgemm": lambda: a @ b}, repeats=5, warmup=1)["sgemm"])
    return 2 * 2048**3 / seconds


def report(architecture: str, result: dict, flops: float, ceiling: float) -> None:
    ms = {name: (1000 * p50(values), 1000 * p95(values)) for name, values in result.items()}
    print(f"\n{architecture}")
    print(f"  {'path':38} {'p50 ms':>8} {'p95 ms':>8}")
    rows = [
        ("decode + preprocess", "decode"),
        ("decode + preprocess, the largest photo", "photo"),
        ("  the same, decoded at full size", "photo_full"),
        ("raw ONNX Runtime session", "ort"),
        ("raw ONNX Runtime session, int8 copy", "int8"),
        ("eager torch", "torch"),
        ("HTTP predict round trip (http.client)", "http"),
        ("  the same, bench/predict/floor_app.py", "floor"),
        ("  floor_app.py, inference on the loop", "on_loop"),
        ("HTTP /api/health (http.client)", "health"),
        ("HTTP predict round trip (httpx)", "httpx"),
        ("HTTP /api/health (httpx)", "httpx_health"),
    ]
    for title, key in rows:
        print(f"  {title:38} {ms[key][0]:8.2f} {ms[key][1]:8.2f}")
    ort_and_decode = ms["ort"][0] + ms["decode"][0]
    print(f"  {'raw ORT + decode':38} {ort_and_decode:8.2f}")
    http_ratio, torch_ratio = ms["http"][0] / ort_and_decode, ms["torch"][0] / ms["ort"][0]
    print(
        f"  HTTP p50 / (ORT + decode) p50 = {http_ratio:.2f}  (target <= 1.15: "
        f"{'met' if http_ratio <= 1.15 else 'NOT met'}; with httpx: {ms['httpx'][0] / ort_and_decode:.2f}; "
        f"floor_app.py: {ms['floor'][0] / ort_and_decode:.2f}, "
        f"on the loop: {ms['on_loop'][0] / ort_and_decode:.2f})"
    )
    print(
        f"  eager torch / ORT p50         = {torch_ratio:.2f}  (target >= 2: "
        f"{'met' if torch_ratio >= 2 else 'NOT met'}; the int8 copy: {ms['torch'][0] / ms['int8'][0]:.2f})"
    )
    print(
        f"  float compute: {flops / 1e9:.2f} GFLOP per image; ORT {flops / ms['ort'][0] / 1e6:.0f} GFLOP/s, "
        f"eager torch {flops / ms['torch'][0] / 1e6:.0f} GFLOP/s; one-thread SGEMM here {ceiling / 1e9:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--architectures", nargs="+", default=["mobilenet_v3_small", "resnet18"])
    parser.add_argument("--data", type=Path, default=DATASET, help="train/ and val/ class folders of photos")
    args = parser.parse_args()
    photos = Photos.of(args.data)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        data_dir = Path(tmp) / "data"
        services = Services(Settings(data_dir=data_dir, api_token=TOKEN))
        model_ids = {name: add_model(services, name, photos) for name in args.architectures}
        ceiling = sgemm_flops_per_second()
        service, service_url = start_service(data_dir)
        floor, floor_url = start_floor(data_dir)
        try:
            print(
                f"image {photos.jpeg.name} ({photos.jpeg.stat().st_size} bytes); largest photo "
                f"{'x'.join(map(str, Image.open(photos.photo).size))}; 1 thread; {args.calls} calls after "
                f"{args.warmup} warm-up; torch {torch.__version__}; {os.cpu_count()} CPUs, load average "
                f"{os.getloadavg()[0]:.2f}"
            )
            for name, model_id in model_ids.items():
                urls = (service_url, floor_url)
                result = bench_architecture(services, urls, model_id, photos, args)
                report(name, result, model_flops(name), ceiling)
        finally:
            for server in (service, floor):
                server.terminate()
                server.wait(timeout=10)
            services.db.dispose()


if __name__ == "__main__":
    main()
