"""GPU inference latency: the served artifact (model.onnx on ONNX Runtime's CUDA provider, through the
runtime's ``OnnxClassifier`` as the API and the GPU Nuclio function run it) against the same model in eager
torch on the same GPU (what the GPU function ran before: ``weights.pt`` in torch), per batch size.

Both sides take a preprocessed float32 NCHW batch in host memory and give class probabilities back in host
memory (the copies are part of the latency, as in serving). Same weights, same batches; the probabilities of
both are compared. Untrained weights (no download): latency does not depend on their values.

    pip install onnxruntime-gpu          # in place of onnxruntime: the CUDA provider (same major version)
    python bench/gpu_latency.py [--architecture resnet50] [--batch-sizes 1,8,32,128] [--iterations 50]
    python bench/gpu_latency.py --device cpu --batch-sizes 1,4 --iterations 3   # smoke check without a GPU

Without a CUDA GPU (torch) or without ONNX Runtime's CUDA provider it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cvat_bridge.runtime.onnx_classifier import OnnxClassifier, cuda_available  # noqa: E402
from trainer.artifacts import write_json  # noqa: E402
from trainer.catalogue import get_architecture  # noqa: E402
from trainer.export import export_onnx  # noqa: E402

CLASSES = [f"class_{index}" for index in range(10)]
WARMUP = 10


def missing_cuda() -> str | None:
    """Why this machine cannot run the GPU comparison, or None when it can."""
    if not torch.cuda.is_available():
        return "no CUDA GPU: torch.cuda.is_available() is False"
    if not cuda_available():
        return (
            "ONNX Runtime has no CUDA provider here (the onnxruntime package is the CPU build): "
            "pip uninstall -y onnxruntime && pip install onnxruntime-gpu"
        )
    return None


def make_model(architecture: str, folder: Path) -> torch.nn.Module:
    """An untrained model of the architecture, written as training writes it (model.json, model.onnx)."""
    spec = get_architecture(architecture)
    preprocessing = spec.preprocessing()
    model = spec.build(len(CLASSES), pretrained=False, download=False).eval()
    example = torch.zeros(1, 3, preprocessing.crop_size, preprocessing.crop_size)
    export_onnx(model, example, folder / "model.onnx")
    info = {"architecture": architecture, "classes": CLASSES, "preprocessing": preprocessing.to_dict()}
    write_json(folder / "model.json", info)
    return model


def torch_probabilities(model: torch.nn.Module, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """Eager torch as the old GPU function ran it: host batch in, softmax on the device, host array out."""
    model = model.to(device).eval()

    @torch.inference_mode()
    def probabilities(batch: np.ndarray) -> np.ndarray:
        logits = model(torch.from_numpy(batch).to(device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    return probabilities


def latency_ms(run: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, iterations: int) -> float:
    """Median milliseconds of one call (after warm-up); the result is in host memory, so the call is done."""
    for _ in range(WARMUP):
        run(batch)
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        run(batch)
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="resnet50")
    parser.add_argument("--batch-sizes", default="1,8,32,128")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: a smoke check only")
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]

    if args.device == "cuda" and (reason := missing_cuda()):
        print(f"gpu_latency: {reason}. Run it on a machine with an NVIDIA GPU (--device cpu: smoke check).")
        return 2
    torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory(prefix="gpu-latency-") as work:
        model = make_model(args.architecture, Path(work))
        onnx = OnnxClassifier(work, threads=1, device="auto" if args.device == "cuda" else "cpu")
        if onnx.device != args.device:
            print("gpu_latency: ONNX Runtime's CUDA provider did not start (see its log above).")
            return 2
        eager = torch_probabilities(model, torch.device(args.device))
        size = onnx.preprocessing.crop_size
        name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (smoke check)"
        print(f"{args.architecture}, {size} px, {name}; ORT on {onnx.device}, median of {args.iterations}")
        header = ("batch", "ORT ms", "torch ms", "ORT img/s", "torch img/s", "torch/ORT")
        print(
            " ".join(f"{title:>{width}}" for title, width in zip(header, (6, 9, 9, 10, 12, 10), strict=True))
        )
        rng = np.random.default_rng(0)
        for batch_size in batch_sizes:
            batch = rng.standard_normal((batch_size, 3, size, size), dtype=np.float32)
            difference = float(np.abs(onnx.probabilities(batch) - eager(batch)).max())
            ort_ms = latency_ms(onnx.probabilities, batch, args.iterations)
            torch_ms = latency_ms(eager, batch, args.iterations)
            print(
                f"{batch_size:>6} {ort_ms:>9.2f} {torch_ms:>9.2f} {1000 * batch_size / ort_ms:>10.0f} "
                f"{1000 * batch_size / torch_ms:>12.0f} {torch_ms / ort_ms:>9.2f}x   "
                f"(max probability difference {difference:.1e})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
