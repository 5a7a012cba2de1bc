"""The rendered function folder: every field CVAT 2.73 reads from a Nuclio function, names valid for any model
name, the zip download and `cvat-bridge function export`."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from cvat_bridge.auth import model_download_token
from cvat_bridge.cli import main as cli
from cvat_bridge.functions.render import function_name
from tests.conftest import API_TOKEN
from tests.serverless.conftest import CLASSES, Bridge

pytestmark = pytest.mark.slow

CVAT_ID = re.compile(r"[a-zA-Z0-9_.-]+")  # CVAT's function id
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # Kubernetes-style names (Nuclio on k8s)


@pytest.mark.parametrize("variant", ["function.yaml", "function-gpu.yaml"])
def test_function_yaml_carries_every_field_cvat_reads(gpu_function_folder: Path, variant: str) -> None:
    function_folder = gpu_function_folder  # the GPU variant's folder holds both configurations
    config = yaml.safe_load((function_folder / variant).read_text())
    metadata, spec = config["metadata"], config["spec"]

    assert CVAT_ID.fullmatch(metadata["name"]) and DNS_LABEL.fullmatch(metadata["name"])
    assert metadata["name"].startswith("cvat-bridge-tiny-v1-")
    assert metadata["namespace"] == "cvat"
    annotations = metadata["annotations"]
    assert annotations["type"] == "detector"  # anything else and CVAT skips the function
    assert annotations["name"].startswith("tiny v1")
    assert annotations["version"] == 1 and isinstance(annotations["version"], int)
    labels = json.loads(annotations["spec"])  # a JSON string, as CVAT parses it
    assert [label["name"] for label in labels] == sorted(CLASSES)  # the model's classes, in its order
    assert {label["type"] for label in labels} == {"tag"}
    assert len({label["id"] for label in labels}) == len(CLASSES)
    confidence = {"name": "confidence", "input_type": "number", "values": ["0", "100", "1"]}
    assert all(label["attributes"] == [confidence] for label in labels)
    assert "tiny" in spec["description"]  # required: without it CVAT's whole function list breaks
    assert spec["handler"] == "main:handler"
    assert spec["runtime"].startswith("python:3")
    assert spec["eventTimeout"] == "30s"
    trigger = spec["triggers"]["myHttpTrigger"]
    assert trigger["kind"] == "http"
    assert trigger["attributes"]["maxRequestBodySize"] == 32 * 1024 * 1024
    assert spec["platform"]["attributes"]["restartPolicy"]["name"] == "always"
    requirements = function_folder / ("requirements-gpu.txt" if "gpu" in variant else "requirements.txt")
    assert requirements.name in spec["build"]["directives"]["postCopy"][0]["value"]
    packages = [re.split(r"[<>=]", line)[0] for line in requirements.read_text().splitlines()]
    env = {item["name"]: item["value"] for item in spec["env"]}
    if variant == "function-gpu.yaml":
        assert metadata["name"].endswith("-gpu")
        assert spec["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert spec["build"]["baseImage"].startswith("nvidia/cuda:") and "cudnn" in spec["build"]["baseImage"]
        assert packages == ["numpy", "pillow", "onnxruntime-gpu"]  # ONNX Runtime's CUDA provider, no torch
    else:
        assert env == {"CVAT_BRIDGE_THREADS": "1"}
        assert packages == ["numpy", "pillow", "onnxruntime"]
        assert all("==" in line for line in requirements.read_text().splitlines())  # pinned to ours


def test_folder_is_main_the_runtime_and_the_model_files(
    function_folder: Path, gpu_function_folder: Path, bridge: Bridge
) -> None:
    """The shape of CVAT's own ONNX functions: no trainer, torch code or torch weights in either variant."""
    model_dir = bridge.services.storage.model_dir(bridge.v1)
    runtime = Path(__file__).resolve().parents[2] / "cvat_bridge" / "runtime"
    common = {"main.py", "README.md", "function.yaml", "requirements.txt", "cvat_bridge", "model"}
    assert {path.name for path in function_folder.iterdir()} == common
    assert {path.name for path in gpu_function_folder.iterdir()} == common | {
        "function-gpu.yaml",
        "requirements-gpu.txt",
    }
    for folder in (function_folder, gpu_function_folder):
        assert sorted(path.name for path in (folder / "model").iterdir()) == ["model.json", "model.onnx"]
        for name in ("model.json", "model.onnx"):
            assert (folder / "model" / name).read_bytes() == (model_dir / name).read_bytes()
        copied = sorted(path.name for path in (folder / "cvat_bridge" / "runtime").iterdir())
        assert copied == sorted(source.name for source in runtime.glob("*.py"))
        for source in runtime.glob("*.py"):
            assert (folder / "cvat_bridge" / "runtime" / source.name).read_text() == source.read_text()
        assert sorted(path.name for path in (folder / "cvat_bridge").iterdir()) == ["__init__.py", "runtime"]
        code = "\n".join(path.read_text() for path in folder.rglob("*.py"))
        assert not re.search(r"^\s*(import|from)\s+(torch|torchvision|timm|trainer)\b", code, re.MULTILINE)
        requirements = "".join(path.read_text() for path in folder.glob("requirements*.txt"))
        assert not re.search(r"^(torch|torchvision|timm)\b", requirements, re.MULTILINE)


@pytest.mark.parametrize(
    "name",
    [
        "tiny",
        "My Model",
        "my-model",
        "Ünïcødé café",
        "猫と犬の分類",
        "x" * 200,
        "  --weird..name__with/slashes\\and:colons!  ",
        "a",
    ],
)
def test_names_are_valid_for_any_model_name(name: str) -> None:
    names = {function_name(name, version) for version in (1, 2, 10_000)}

    assert len(names) == 3  # unique per version
    for result in names:
        assert CVAT_ID.fullmatch(result) and DNS_LABEL.fullmatch(result), result
        assert len(result) <= 63


def test_names_that_slug_alike_stay_apart() -> None:
    assert function_name("My Model", 1) != function_name("my-model", 1)
    assert function_name("猫", 1) != function_name("犬", 1)


@pytest.mark.parametrize(
    "path,variant", [("function", "cpu"), ("function?variant=gpu", "gpu"), ("function-gpu.zip", "gpu")]
)
def test_zip_download_is_the_folder_in_one_top_folder(
    bridge: Bridge, function_folder: Path, gpu_function_folder: Path, path: str, variant: str
) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    answer = httpx.get(f"{bridge.server.url}/api/models/{bridge.v1}/{path}", headers=headers, timeout=120)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert ".zip" in answer.headers["content-disposition"]
    names = set(zipfile.ZipFile(io.BytesIO(answer.content)).namelist())
    folder = gpu_function_folder if variant == "gpu" else function_folder
    config = yaml.safe_load((folder / "function.yaml").read_text())
    top = config["metadata"]["name"] + ("-gpu" if variant == "gpu" else "")  # unzipping spills nothing
    expected = {f"{top}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file()}
    assert names == expected


def test_zip_download_errors(bridge: Bridge) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    missing = httpx.get(f"{bridge.server.url}/api/models/999999/function", headers=headers)
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    tpu = httpx.get(f"{bridge.server.url}/api/models/{bridge.v1}/function?variant=tpu", headers=headers)
    assert tpu.status_code == 400 and "variant" in tpu.json()["detail"]
    assert httpx.get(f"{bridge.server.url}/api/models/{bridge.v1}/function").status_code == 401
    unknown = httpx.get(f"{bridge.server.url}/api/models/nobody/function", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no model named 'nobody'"
    # A name without the API token: refused before the name is looked up (no download token fits a name).
    token = model_download_token(bridge.services.db, API_TOKEN, bridge.v2)
    by_name = httpx.get(
        f"{bridge.server.url}/api/models/tiny/function", headers={"Authorization": f"Bearer {token}"}
    )
    assert by_name.status_code == 401


def test_model_routes_take_a_name_for_its_latest_version(bridge: Bridge) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    model = httpx.get(f"{bridge.server.url}/api/models/tiny", headers=headers).json()
    assert model["id"] == bridge.v2 and model["version"] == 2
    answer = httpx.get(f"{bridge.server.url}/api/models/tiny/function.zip", headers=headers, timeout=120)
    assert answer.status_code == 200
    (yaml_name,) = [
        name
        for name in zipfile.ZipFile(io.BytesIO(answer.content)).namelist()
        if name.endswith("function.yaml")
    ]
    config = yaml.safe_load(zipfile.ZipFile(io.BytesIO(answer.content)).read(yaml_name))
    assert config["metadata"]["annotations"]["version"] == 2
    artifact = httpx.get(f"{bridge.server.url}/api/models/tiny/artifacts/metrics.json", headers=headers)
    assert artifact.status_code == 200 and "accuracy" in artifact.json()


def test_a_download_token_opens_its_own_models_zip_and_nothing_else(bridge: Bridge) -> None:
    token = model_download_token(bridge.services.db, API_TOKEN, bridge.v1)
    assert API_TOKEN not in token
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> int:
        return httpx.get(f"{bridge.server.url}/api{path}", headers=headers, timeout=120).status_code

    assert get(f"/models/{bridge.v1}/function.zip") == 200
    assert get(f"/models/{bridge.v1}/function-gpu.zip") == 200
    assert get(f"/models/{bridge.v2}/function-gpu.zip") == 401
    assert get(f"/models/{bridge.v2}/function.zip") == 401  # another model's zip
    assert get(f"/models/{bridge.v1}") == 401  # the rest of the API
    assert get("/models") == 401
    # a new API token retires it
    assert model_download_token(bridge.services.db, "another-api-token", bridge.v1) != token


def test_cli_export_writes_the_folder(
    bridge: Bridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cvat_bridge.cli.function.get_services", lambda: bridge.services)
    target = tmp_path / "exported"

    result = CliRunner().invoke(cli, ["function", "export", str(bridge.v2), str(target)])

    assert result.exit_code == 0, result.output
    assert "nuctl deploy --project-name cvat" in result.output
    config = yaml.safe_load((target / "function.yaml").read_text())
    assert config["metadata"]["annotations"]["version"] == 2
    assert (target / "model" / "model.onnx").is_file() and not (target / "model" / "weights.pt").exists()
    assert not (target / "trainer").exists()
    gpu_folder = str(tmp_path / "gpu")
    gpu = CliRunner().invoke(cli, ["function", "export", str(bridge.v2), gpu_folder, "--variant", "gpu"])
    assert gpu.exit_code == 0 and f"--file {tmp_path / 'gpu'}/function-gpu.yaml" in gpu.output, gpu.output
    assert (tmp_path / "gpu" / "function-gpu.yaml").is_file()
    assert not (tmp_path / "gpu" / "model" / "weights.pt").exists()
    again = CliRunner().invoke(cli, ["function", "export", str(bridge.v2), str(target)])
    assert again.exit_code != 0 and "exists already" in again.output
    unknown = CliRunner().invoke(cli, ["function", "export", "999999", str(tmp_path / "other")])
    assert unknown.exit_code != 0 and "no model with id 999999" in unknown.output
    by_name = CliRunner().invoke(cli, ["function", "export", "tiny", str(tmp_path / "by-name")])
    assert by_name.exit_code == 0, by_name.output
    config = yaml.safe_load((tmp_path / "by-name" / "function.yaml").read_text())
    assert config["metadata"]["annotations"]["version"] == 2  # the latest version of "tiny"
