"""The catalogue in the API process: how long a fresh `cvat-bridge serve` takes to answer its first
GET /api/architectures and a validated POST /api/models, and whether the process has loaded torch.

    python bench/catalogue/run.py [--calls 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers.processes import Service  # noqa: E402

TOKEN = "bench-token"


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls after the first, for the median")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        Service(Path(scratch) / "data", TOKEN, Path(scratch) / "serve.log") as served,
    ):
        client = served.client

        def architectures() -> None:
            assert client.get("/api/architectures").status_code == 200

        def refused_training() -> None:  # validated against the catalogue, then refused: no collection 1
            body = {"name": "bench", "collection_id": 1, "architecture": "resnet18", "image_size": 64}
            assert client.post("/api/models", json=body).status_code == 422

        first = timed(architectures)
        first_post = timed(refused_training)
        later = [timed(architectures) for _ in range(args.calls)]
        torch_loaded = "libtorch_cpu.so" in Path(f"/proc/{served.process.pid}/maps").read_text()
    median = statistics.median(later) * 1000
    print(f"first GET /api/architectures: {first:.3f} s; then median {median:.1f} ms")
    print(f"first POST /api/models (validated, refused): {first_post * 1000:.1f} ms")
    print(f"serve process has loaded torch: {'yes' if torch_loaded else 'no'}")


if __name__ == "__main__":
    main()
