"""Fault behaviour of cvat-bridge: what happens to jobs and data when processes die, Redis goes away, the
disk fills up, many clients predict at once, or strangers send large bodies.

Starts its own `cvat-bridge serve` (and `cvat-bridge worker` + a redis-server on its own port where a case
needs them) on a temporary data dir, on 127.0.0.1 only, and prints per case: what happened to the job, to
the data (partial files, staging leftovers), errors seen and the peak RSS of the service and its children.

    python bench/faults/run.py                         # every case, 60 s of predict load
    python bench/faults/run.py --predict-seconds 10 --cases kill_worker redis
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from cvat_bridge.jobs.store import get_job  # noqa: E402
from cvat_bridge.services import Services, set_services  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.helpers.images import class_image, image_bytes  # noqa: E402
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_tiny_model  # noqa: E402
from tests.helpers.processes import (  # noqa: E402
    RedisServer,
    Service,
    bridge_env,
    descendants,
    pid_alive,
    rss_bytes,
    start_bridge,
    wait_until,
)
from tests.test_disk_full import random_zip  # noqa: E402

TOKEN = "faults-token"
TIMING = {"job_heartbeat_seconds": 1, "job_stale_after_seconds": 10}
LONG_TRAINING = {**TINY_SETTINGS, "epochs": 300, "num_workers": 2}
FINISHED = ("succeeded", "failed", "cancelled")


class PeakRss:
    """Samples the summed RSS of a process and its descendants in a thread; `peak` in MB."""

    def __init__(self, pid: Callable[[], int | None]) -> None:
        self._pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            pid = self._pid()
            if pid and pid_alive(pid):
                total = sum(rss_bytes(p) for p in [pid, *descendants(pid)])
                self.peak = max(self.peak, total / 1024**2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def services_on(data_dir: Path, **settings: Any) -> Services:
    return Services(make_settings(data_dir, api_token=TOKEN, **settings))


def command(pid: int) -> str:
    """A process's command line, shortened."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        return "?"


def data_state(data_dir: Path) -> str:
    """Partial files and staging leftovers under the data dir."""
    partial = [p.name for p in data_dir.rglob("*.partial")]
    staging = data_dir / "staging"
    staged = sum(1 for p in staging.rglob("*") if p.is_file() and not p.name.endswith(".lock"))
    return (
        f"partial files: {len(partial)}{' ' + str(partial) if partial else ''}; staged files left: {staged}"
    )


def job_state(services: Services, job_id: str) -> str:
    job = get_job(services.db, job_id)
    return f"{job.status}" + (f" ({job.error})" if job.error else "")


def start_training(service: Service, collection_id: int, **settings: Any) -> dict:
    body = {"name": "faults", "collection_id": collection_id, "architecture": "resnet18", **settings}
    answer = service.client.post("/api/models", json=body)
    answer.raise_for_status()
    return answer.json()


def wait_training_started(services: Services, model: dict) -> int:
    """Wait for the first checkpoint; returns the pid of the process running the job."""
    folder = services.storage.model_dir(model["id"])
    wait_until(lambda: (folder / "checkpoint.pt").exists(), 300, "the training never wrote a checkpoint")
    return int(get_job(services.db, model["job_id"]).worker.rpartition(":")[2])


def wait_finished(services: Services, job_id: str, timeout: float = 300) -> None:
    wait_until(
        lambda: get_job(services.db, job_id).status in FINISHED, timeout, f"job {job_id} never finished"
    )


def kill_worker(work: Path, args: argparse.Namespace) -> dict:
    """kill -9 of the embedded worker process mid-training, with a second training queued behind it."""
    data = work / "data"
    services = services_on(data)
    collection_id = make_color_collection(services)
    with (
        Service(data, TOKEN, work / "serve.log", **TIMING) as service,
        PeakRss(lambda: service.process.pid) as rss,
    ):
        first = start_training(service, collection_id, **LONG_TRAINING)
        second = start_training(service, collection_id, **{**TINY_SETTINGS, "epochs": 1})
        worker = wait_training_started(services, first)
        os.kill(worker, 9)
        wait_finished(services, first["job_id"])
        wait_finished(services, second["job_id"])
        alive = service.process.poll() is None
    return {
        "job": f"killed: {job_state(services, first['job_id'])}; queued behind it: "
        f"{job_state(services, second['job_id'])}",
        "data": data_state(data),
        "errors": "none" if alive else "the service died",
        "peak_rss_mb": rss.peak,
    }


def kill_service(work: Path, args: argparse.Namespace) -> dict:
    """kill -9 of `cvat-bridge serve` mid-training, then a restart."""
    data = work / "data"
    services = services_on(data)
    collection_id = make_color_collection(services)
    service = Service(data, TOKEN, work / "serve.log", **TIMING).start()
    with PeakRss(lambda: service.process.pid) as rss:
        model = start_training(service, collection_id, **LONG_TRAINING)
        wait_training_started(services, model)
        family = {pid: command(pid) for pid in descendants(service.process.pid)}
        service.kill()
        killed = time.monotonic()
        time.sleep(5)
        survivors = {pid: name for pid, name in family.items() if pid_alive(pid)}
        while any(pid_alive(pid) for pid in family) and time.monotonic() - killed < 60:
            time.sleep(0.2)
        all_gone = time.monotonic() - killed
    before_restart = job_state(services, model["job_id"])
    with Service(data, TOKEN, work / "serve-2.log", **TIMING):
        wait_finished(services, model["job_id"], 60)
        after_restart = job_state(services, model["job_id"])
    return {
        "job": f"before restart: {before_restart}; after restart: {after_restart}",
        "data": data_state(data),
        "errors": f"{len(survivors)} of {len(family)} child processes alive 5 s after the kill {survivors}; "
        f"all gone after {all_gone:.0f} s",
        "peak_rss_mb": rss.peak,
    }


def redis_outage(work: Path, args: argparse.Namespace) -> dict:
    """Redis stopped during a training (and a submit while it is down), then started again (empty)."""
    data = work / "data"
    with RedisServer() as redis:
        services = services_on(data, redis_url=redis.url)
        collection_id = make_color_collection(services)
        env = bridge_env(data, redis_url=redis.url, api_token=TOKEN, **TIMING)
        worker = start_bridge(["worker"], env, work / "worker.log")
        try:
            with (
                Service(data, TOKEN, work / "serve.log", redis_url=redis.url, **TIMING) as service,
                PeakRss(lambda: service.process.pid) as rss,
            ):
                running = start_training(service, collection_id, **{**TINY_SETTINGS, "epochs": 4})
                wait_training_started(services, running)
                redis.stop()
                down = service.client.post(
                    "/api/models",
                    json={"name": "down", "collection_id": collection_id, "architecture": "resnet18"},
                )
                time.sleep(3)
                redis.start()
                time.sleep(5)
                after = start_training(service, collection_id, **{**TINY_SETTINGS, "epochs": 1})
                wait_finished(services, running["job_id"], 900)
                try:
                    wait_finished(services, after["job_id"], 300)
                except AssertionError:
                    pass  # reported as it is
            worker_alive = worker.poll() is None
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, 9)
            worker.wait()
    return {
        "job": f"running during the outage: {job_state(services, running['job_id'])}; submitted while down: "
        f"HTTP {down.status_code} ({down.json().get('detail')}); submitted after: "
        f"{job_state(services, after['job_id'])}",
        "data": data_state(data),
        "errors": "worker still running" if worker_alive else f"worker exited (code {worker.returncode})",
        "peak_rss_mb": rss.peak,
    }


def disk_full(work: Path, args: argparse.Namespace) -> dict:
    """Data dir on a 64 MiB tmpfs: an upload larger than the space left, then a training on a full disk."""
    if os.geteuid() != 0:
        return {"job": "skipped: mounting a tmpfs needs root", "data": "", "errors": "", "peak_rss_mb": 0.0}
    data = work / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(data)], check=True)
    services = services_on(data)
    try:
        collection_id = make_color_collection(services)
        with (
            Service(data, TOKEN, work / "serve.log", **TIMING) as service,
            PeakRss(lambda: service.process.pid) as rss,
        ):
            upload = service.client.post(
                "/api/collections",
                files={"file": ("big.zip", random_zip(80 * 1024**2))},
                data={"name": "big"},
            )
            stats = os.statvfs(data)
            (data / "filler").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 2 * 1024**2))
            model = start_training(service, collection_id, **{**TINY_SETTINGS, "epochs": 2})
            wait_finished(services, model["job_id"])
            collections = len(service.client.get("/api/collections").json())
        return {
            "job": f"upload: HTTP {upload.status_code} ({upload.json().get('detail')}); collections: "
            f"{collections} (1 before); training: {job_state(services, model['job_id'])}",
            "data": data_state(data),
            "errors": "none" if upload.status_code == 507 else f"upload answered {upload.status_code}",
            "peak_rss_mb": rss.peak,
        }
    finally:
        services.db.dispose()
        subprocess.run(["umount", "-l", str(data)], check=False)


def predict_load(work: Path, args: argparse.Namespace) -> dict:
    """N concurrent clients calling /predict with one small JPEG each, for a fixed time."""
    data = work / "data"
    services = services_on(data)
    set_services(services)  # the training runs here, through the job path
    model_id = train_tiny_model(services, epochs=1)
    image = image_bytes(class_image("red", 1))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    with Service(data, TOKEN, work / "serve.log") as service, PeakRss(lambda: service.process.pid) as rss:
        deadline = time.monotonic() + args.predict_seconds

        def client() -> None:
            with httpx.Client(
                base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            ) as c:
                while time.monotonic() < deadline:
                    started = time.monotonic()
                    try:
                        answer = c.post(f"/api/models/{model_id}/predict", files={"file": ("a.jpg", image)})
                        problem = None if answer.status_code == 200 else f"HTTP {answer.status_code}"
                    except httpx.HTTPError as exc:
                        problem = type(exc).__name__
                    with lock:
                        latencies.append(time.monotonic() - started)
                        if problem:
                            errors[problem] = errors.get(problem, 0) + 1

        threads = [threading.Thread(target=client) for _ in range(args.predict_clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    latencies.sort()
    p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
    return {
        "job": f"{len(latencies)} requests from {args.predict_clients} clients in {args.predict_seconds} s, "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms",
        "data": "-",
        "errors": ", ".join(f"{k}: {v}" for k, v in errors.items()) or "none",
        "peak_rss_mb": rss.peak,
    }


def large_bodies(work: Path, args: argparse.Namespace) -> dict:
    """Unauthenticated bodies of N MB: JSON to POST /api/models, multipart to /predict, four at once."""
    data = work / "data"
    size = args.large_body_mb * 1024**2

    def body() -> Iterator[bytes]:
        chunk = b"x" * 1024**2
        for _ in range(args.large_body_mb):
            yield chunk

    outcomes: list[str] = []
    with Service(data, TOKEN, work / "serve.log") as service, PeakRss(lambda: service.process.pid) as rss:
        idle = rss_bytes(service.process.pid) / 1024**2

        def send(path: str, content_type: str) -> None:
            started = time.monotonic()
            try:
                answer = httpx.post(
                    service.url + path,
                    content=body(),
                    headers={"Content-Type": content_type, "Content-Length": str(size)},
                    timeout=300,
                )
                outcome = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            outcomes.append(f"{path} {outcome} in {time.monotonic() - started:.1f} s")

        requests = [("/api/models", "application/json")] * 2 + [
            ("/api/models/1/predict", "multipart/form-data; boundary=x")
        ] * 2
        threads = [threading.Thread(target=send, args=request) for request in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(2)
        after = rss_bytes(service.process.pid) / 1024**2
    return {
        "job": f"4 x {args.large_body_mb} MB without a token: " + "; ".join(sorted(outcomes)),
        "data": data_state(data),
        "errors": f"RSS idle {idle:.0f} MB, after {after:.0f} MB",
        "peak_rss_mb": rss.peak,
    }


CASES: dict[str, Callable[[Path, argparse.Namespace], dict]] = {
    "kill_worker": kill_worker,
    "kill_service": kill_service,
    "redis": redis_outage,
    "disk_full": disk_full,
    "predict_load": predict_load,
    "large_bodies": large_bodies,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--predict-seconds", type=float, default=60.0)
    parser.add_argument("--predict-clients", type=int, default=50)
    parser.add_argument("--large-body-mb", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data) for a look")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cvat-bridge-faults-"))
    rows = []
    for name in args.cases:
        print(f"== {name}: {CASES[name].__doc__.splitlines()[0]}", flush=True)
        started = time.monotonic()
        folder = work / name
        folder.mkdir()
        try:
            row = CASES[name](folder, args)
        except Exception as exc:  # noqa: BLE001 - a case that breaks is a result too
            row = {"job": "-", "data": "-", "errors": f"the case broke: {type(exc).__name__}: {exc}"}
            row["peak_rss_mb"] = 0.0
        row["case"], row["seconds"] = name, time.monotonic() - started
        rows.append(row)
        for key in ("job", "data", "errors"):
            print(f"   {key}: {row[key]}", flush=True)
        print(f"   peak RSS: {row['peak_rss_mb']:.0f} MB ({row['seconds']:.0f} s)", flush=True)
    print("\n| case | job | data | errors | peak RSS (MB) |\n|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['case']} | {row['job']} | {row['data']} | {row['errors']} | {row['peak_rss_mb']:.0f} |"
        )
    if args.keep:
        print(f"work dir: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
