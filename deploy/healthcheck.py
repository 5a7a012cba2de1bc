#!/usr/bin/env python3
"""Container health check (installed in the images as `cvat-bridge-healthcheck`).

    cvat-bridge-healthcheck api            the API is ready: GET /api/health/ready (CVAT_BRIDGE_HEALTH_URL)
                                           answers 200 (its database, queue and data dir work)
    cvat-bridge-healthcheck worker         Redis answers and a `cvat-bridge worker` of this host is registered
    cvat-bridge-healthcheck worker --gpu   the same, and PyTorch sees at least one CUDA device

Exit status 0 means healthy; otherwise the reason is printed (Docker shows it in `docker inspect`).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import urllib.error
import urllib.request


def check_api() -> str | None:
    url = os.environ.get("CVAT_BRIDGE_HEALTH_URL", "http://127.0.0.1:8000/api/health/ready")
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:  # 503: the answer names what is down
        return f"{url} answered {exc.code}: {exc.read().decode(errors='replace')[:300]}"
    except OSError as exc:
        return f"{url} did not answer: {exc}"


def check_worker(gpu: bool) -> str | None:
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Worker

    redis_url = os.environ.get("CVAT_BRIDGE_REDIS_URL")
    if not redis_url:
        return "CVAT_BRIDGE_REDIS_URL is not set"
    try:
        workers = Worker.all(connection=Redis.from_url(redis_url, socket_timeout=4))
    except (RedisError, OSError) as exc:
        return f"Redis (CVAT_BRIDGE_REDIS_URL) did not answer: {exc}"
    if not any(worker.hostname == socket.gethostname() for worker in workers):
        return f"no cvat-bridge worker of host {socket.gethostname()} is registered in Redis"
    if gpu:
        import torch

        if not torch.cuda.is_available():
            return "PyTorch sees no CUDA device (is the GPU reserved for this container?)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("api", "worker"))
    parser.add_argument("--gpu", action="store_true", help="worker: also require a CUDA device")
    args = parser.parse_args(argv)
    problem = check_api() if args.role == "api" else check_worker(args.gpu)
    if problem:
        print(f"unhealthy: {problem}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
