"""The images: what the Dockerfiles build and run, checked without Docker. The package is built from exactly
the build context that .dockerignore leaves, installed (not editable) into a folder, and the images' commands,
read from the Dockerfiles, are run from it: the API answers its health check, a worker takes a job from Redis,
both stop cleanly on SIGTERM (`docker stop`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from cvat_bridge.jobs.queue import start_job
from cvat_bridge.jobs.store import get_job
from cvat_bridge.services import Services
from cvat_bridge.settings import Settings
from tests.deploy.files import (
    ADDON,
    DEPLOY,
    ROOT,
    build_context,
    compose_config,
    container_command,
    dockerfile_instructions,
    final_stage,
    one,
)
from tests.standins import free_port

DOCKERFILES = (DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.gpu")
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of these tests' own
HEALTHCHECK = "cvat-bridge-healthcheck"  # deploy/healthcheck.py in the images


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_runs_as_non_root_with_a_health_check(dockerfile: Path) -> None:
    stage = final_stage(dockerfile)
    assert one(stage, "USER").args not in ("root", "0")
    assert one(stage, "HEALTHCHECK").exec_form()[0] == HEALTHCHECK
    assert any(ins.args.endswith(f"deploy/healthcheck.py /usr/local/bin/{HEALTHCHECK}") for ins in stage)
    env = " ".join(ins.args for ins in stage if ins.keyword == "ENV")
    assert "CVAT_BRIDGE_DATA_DIR=/data" in env and "TORCH_HOME=/torch" in env


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_pins_the_torch_of_pyproject(dockerfile: Path) -> None:
    pins = dict(
        requirement.split("==")
        for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if "==" in requirement
    )
    args = dict(
        ins.args.split("=", 1)
        for ins in dockerfile_instructions(dockerfile)
        if ins.keyword == "ARG" and "=" in ins.args
    )
    assert args["TORCH_VERSION"] == pins["torch"]
    assert args["TORCHVISION_VERSION"] == pins["torchvision"]


def test_gpu_image_serves_onnx_on_the_cuda_build_of_the_same_onnxruntime() -> None:
    (build,) = [
        ins.args
        for ins in dockerfile_instructions(DEPLOY / "Dockerfile.gpu")
        if ins.keyword == "RUN" and "/src[" in ins.args
    ]
    steps = [step.strip() for step in build.split("&&")]
    swap = ["pip uninstall -y onnxruntime", 'pip install "onnxruntime-gpu==${ORT_VERSION}"']
    assert steps[2:4] == swap and 'version("onnxruntime")' in steps[1]  # the version pip chose for pyproject
    assert "CUDAExecutionProvider" in steps[-1]
    cpu_build = " ".join(ins.args for ins in dockerfile_instructions(DEPLOY / "Dockerfile"))
    assert "onnxruntime-gpu" not in cpu_build


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_holds_what_the_dockerfile_copies(dockerfile: Path) -> None:
    context = build_context()
    for ins in dockerfile_instructions(dockerfile):
        if ins.keyword == "COPY" and "--from=" not in ins.args:
            *sources, _target = [arg for arg in ins.args.split() if not arg.startswith("--")]
            for source in sources:
                assert any(f == source or f.startswith(source + "/") for f in context), f"{source} not sent"
    assert not any(f.startswith(("tests/", ".git/", "data/", "bench/")) for f in context)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The package as the image installs it (`pip install /src`, from the build context); returns the
    environment that runs its commands from there."""
    base = tmp_path_factory.mktemp("image")
    source, target = base / "src", base / "site"
    for relative in build_context():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, source / relative)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--root-user-action=ignore", "--target", str(target), str(source)], check=True, timeout=300
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVAT_BRIDGE_")}
    env |= {"PYTHONPATH": str(target), "PATH": f"{target / 'bin'}{os.pathsep}{env['PATH']}"}
    where = subprocess.run(
        [sys.executable, "-c", "import cvat_bridge; print(cvat_bridge.__file__)"],
        env=env, cwd=base, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(target)), where
    env["HEALTHCHECK_SCRIPT"] = str(source / "deploy" / "healthcheck.py")
    return env


@pytest.fixture
def container_env(installed: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The image's environment (data dir volume at a temp folder), with a token and the tests' Redis."""
    return installed | {
        "CVAT_BRIDGE_DATA_DIR": str(tmp_path / "data"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "CVAT_BRIDGE_API_TOKEN": "image-token",
        "CVAT_BRIDGE_REDIS_URL": REDIS_URL,
        "CVAT_BRIDGE_JOB_HEARTBEAT_SECONDS": "0.5",
    }


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    """Processes started by a test; any left running are killed at the end."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start(
    started: list[subprocess.Popen], command: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen:
    process = subprocess.Popen(
        command, env=env, cwd=log.parent, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    started.append(process)
    return process


def _healthcheck(env: dict[str, str], command: list[str]) -> subprocess.CompletedProcess:
    """A health check command of the files (`cvat-bridge-healthcheck ...`), run from the build context."""
    assert command[0] == HEALTHCHECK, command
    script = env["HEALTHCHECK_SCRIPT"]
    return subprocess.run(
        [sys.executable, script, *command[1:]], env=env, capture_output=True, text=True, timeout=60
    )


def _stop(process: subprocess.Popen, log: Path) -> None:
    """`docker stop`: SIGTERM, then the process must end by itself within the grace period (10 s), either
    with 0 or by re-raising SIGTERM after its own clean shutdown (as uvicorn does)."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not stop on SIGTERM:\n{log.read_text()}")
    assert code in (0, -signal.SIGTERM), log.read_text()


def test_api_image_command_serves_the_health_check(
    container_env: dict[str, str], started: list[subprocess.Popen], tmp_path: Path
) -> None:
    command = container_command(DEPLOY / "Dockerfile")
    assert command[:2] == ["cvat-bridge", "serve"] and command[command.index("--host") + 1] == "0.0.0.0"
    port = free_port()
    command[command.index("--port") + 1] = str(port)  # the container's 8000 may be taken on this machine
    env = container_env | {"CVAT_BRIDGE_HEALTH_URL": f"http://127.0.0.1:{port}/api/health/ready"}
    healthcheck = one(final_stage(DEPLOY / "Dockerfile"), "HEALTHCHECK").exec_form()
    assert _healthcheck(env, healthcheck).returncode == 1  # nothing listens yet: unhealthy
    log = tmp_path / "serve.log"
    server = _start(started, command, env, log)
    deadline = time.monotonic() + 60
    while _healthcheck(env, healthcheck).returncode != 0:
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no health within 60 s:\n{log.read_text()}"
        time.sleep(0.5)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/api/health").json()["status"] == "ok"
    assert httpx.get(f"{base}/collections").status_code == 200  # templates are in the installed package
    assert httpx.get(f"{base}/api/jobs/x", headers={"Authorization": "Bearer image-token"}).status_code == 404
    _stop(server, log)
    assert "Application shutdown complete" in log.read_text()


def test_worker_image_command_takes_jobs_from_redis(
    container_env: dict[str, str], started: list[subprocess.Popen], tmp_path: Path, database_url: str | None
) -> None:
    """On SQLite (one machine) and PostgreSQL (workers on other machines)."""
    if database_url:
        container_env = container_env | {"CVAT_BRIDGE_DATABASE_URL": database_url}
    command = container_command(DEPLOY / "Dockerfile.gpu")
    cpu_worker = compose_config([ADDON], cwd=DEPLOY)["services"]["cvat_bridge_worker"]
    assert command == ["cvat-bridge", *cpu_worker["command"]] == ["cvat-bridge", "worker"]
    healthcheck = cpu_worker["healthcheck"]["test"][1:]  # ["CMD", ...]
    Redis.from_url(REDIS_URL).flushdb()
    assert "no cvat-bridge worker" in _healthcheck(container_env, healthcheck).stdout  # none started yet
    data_dir = Path(container_env["CVAT_BRIDGE_DATA_DIR"])
    services = Services(Settings(data_dir=data_dir, redis_url=REDIS_URL, database_url=database_url))
    try:
        job_id = start_job(services, "no-such-kind", {})
        log = tmp_path / "worker.log"
        worker = _start(started, command, container_env, log)
        deadline = time.monotonic() + 60
        while (job := get_job(services.db, job_id)).status in ("queued", "running"):
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"job not taken within 60 s:\n{log.read_text()}"
            time.sleep(0.3)
        assert job.status == "failed" and "no-such-kind" in job.error  # failed cleanly, the worker lives on
        health = _healthcheck(container_env, healthcheck)
        assert health.returncode == 0, health.stdout
        assert worker.poll() is None
        _stop(worker, log)
        assert "no cvat-bridge worker" in _healthcheck(container_env, healthcheck).stdout  # it unregistered
    finally:
        services.jobs.close()
        services.db.dispose()
    unhealthy = _healthcheck(container_env | {"CVAT_BRIDGE_REDIS_URL": "redis://127.0.0.1:1/0"}, healthcheck)
    assert unhealthy.returncode == 1 and "did not answer" in unhealthy.stdout
