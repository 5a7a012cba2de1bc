"""Benchmark: the CPU Nuclio function (serverless/main.py, ONNX Runtime, 1 thread) against raw ONNX Runtime.

For mobilenet_v3_small and resnet18 (224 px, 10 classes, untrained weights: speed does not depend on them):
renders the real function folder, times ``init_context`` (cold start: model load), then calls the handler
as CVAT does (JSON body ``{"image": <base64 of a 640x480 JPEG>, "threshold": 0.5}``) and, interleaved with
it, the raw path: JPEG decode + the same preprocessing + ``InferenceSession.run`` (1 intra-op thread).
Target: handler p50 <= 1.2 x raw p50.

    python bench/function/run.py [--calls 200]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nuclio_sdk
import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from cvat_bridge.functions.render import FunctionSource, render_function
from cvat_bridge.runtime.imaging import Preprocessing, open_image, preprocess
from trainer.artifacts import write_json
from trainer.catalogue import get_architecture
from trainer.export import export_onnx

ARCHITECTURES = ("mobilenet_v3_small", "resnet18")
CLASSES = [f"class_{index}" for index in range(10)]
PHOTO = Path(__file__).resolve().parents[2] / "tests" / "data" / "hymenoptera_data" / "val" / "bees"


def make_model(architecture: str, folder: Path) -> FunctionSource:
    """model.json, weights.pt and model.onnx of an untrained model, as training writes them."""
    spec = get_architecture(architecture)
    preprocessing = spec.preprocessing()
    model = spec.build(len(CLASSES), pretrained=False, download=False).eval()
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "weights.pt")
    example = torch.zeros(1, 3, preprocessing.crop_size, preprocessing.crop_size)
    export_onnx(model, example, folder / "model.onnx")
    info = {"architecture": architecture, "classes": CLASSES, "preprocessing": preprocessing.to_dict()}
    write_json(folder / "model.json", info)
    return FunctionSource(0, architecture, 1, folder, info)


def frame_jpeg() -> bytes:
    """A 640x480 JPEG frame made from a real photo of tests/data."""
    image = Image.open(sorted(PHOTO.glob("*.jpg"))[0]).convert("RGB").resize((640, 480))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def load_main(folder: Path):
    spec = importlib.util.spec_from_file_location(f"bench_function_{folder.name}", folder / "main.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def raw_call(session: ort.InferenceSession, spec: Preprocessing, jpeg: bytes) -> np.ndarray:
    batch = preprocess(open_image(jpeg, min_short_side=spec.resize_size), spec)[None]
    return session.run(["logits"], {"input": batch})[0]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def bench(architecture: str, work: Path, calls: int) -> dict[str, float]:
    source = make_model(architecture, work / f"{architecture}-model")
    folder = render_function(source, work / f"{architecture}-function", threads=1)
    jpeg = frame_jpeg()
    event = nuclio_sdk.Event(
        body={"image": base64.b64encode(jpeg).decode(), "threshold": 0.5}, content_type="application/json"
    )
    started = time.perf_counter()
    main = load_main(folder)
    imported = time.perf_counter()
    context = nuclio_sdk.Context(logger=nuclio_sdk.Logger(logging.WARNING, "bench"))
    main.init_context(context)
    cold = time.perf_counter()

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    onnx_file = str(source.model_dir / "model.onnx")
    session = ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
    spec = Preprocessing.from_dict(source.info["preprocessing"])
    batch = preprocess(open_image(jpeg, min_short_side=spec.resize_size), spec)[None]

    handler_ms, raw_ms, ort_ms = [], [], []
    for index in range(calls + 10):  # interleaved, so load on the machine hits both alike
        t0 = time.perf_counter()
        response = main.handler(context, event)
        t1 = time.perf_counter()
        raw_call(session, spec, jpeg)
        t2 = time.perf_counter()
        session.run(["logits"], {"input": batch})
        t3 = time.perf_counter()
        assert response.status_code == 200, response.body
        if index >= 10:  # warm-up
            handler_ms.append(1000 * (t1 - t0))
            raw_ms.append(1000 * (t2 - t1))
            ort_ms.append(1000 * (t3 - t2))
    handler_p50, handler_p95 = percentiles(handler_ms)
    raw_p50, raw_p95 = percentiles(raw_ms)
    ort_p50, ort_p95 = percentiles(ort_ms)
    return {
        "import_ms": 1000 * (imported - started),
        "init_context_ms": 1000 * (cold - imported),
        "handler_p50": handler_p50,
        "handler_p95": handler_p95,
        "raw_p50": raw_p50,
        "raw_p95": raw_p95,
        "ort_p50": ort_p50,
        "ort_p95": ort_p95,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    os.environ["CVAT_BRIDGE_THREADS"] = "1"
    torch.set_num_threads(1)
    print(f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, {args.calls} calls, 640x480 JPEG, 1 thread")
    header = (
        f"{'model':<20} {'import':>8} {'init_context':>13} {'handler p50/p95':>17} "
        f"{'raw p50/p95':>15} {'ORT only p50/p95':>18} {'handler/raw p50':>16}"
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="bench-function-") as work:
        for architecture in ARCHITECTURES:
            r = bench(architecture, Path(work), args.calls)
            ratio = r["handler_p50"] / r["raw_p50"]
            verdict = "ok" if ratio <= 1.2 else "OVER"
            print(
                f"{architecture:<20} {r['import_ms']:>6.0f}ms {r['init_context_ms']:>11.0f}ms "
                f"{r['handler_p50']:>8.1f}/{r['handler_p95']:<6.1f}ms "
                f"{r['raw_p50']:>6.1f}/{r['raw_p95']:<6.1f}ms "
                f"{r['ort_p50']:>8.1f}/{r['ort_p95']:<6.1f}ms {ratio:>9.2f}x {verdict}"
            )
    print("\nraw = JPEG decode + preprocessing + InferenceSession.run; target: handler p50 <= 1.2 x raw p50")


if __name__ == "__main__":
    main()
