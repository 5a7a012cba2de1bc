"""Render the Nuclio function folder of one model version, ready for `nuctl deploy` or the dashboard, in the
shape of CVAT's own ONNX functions (the handler, the runtime, the model files; no trainer, no torch).

<folder>/                           (* only in the GPU variant's folder, which runs on the CPU too)
  function.yaml, function-gpu.yaml* CPU (onnxruntime) and GPU (onnxruntime-gpu on a CUDA image) configurations
  main.py                           the handler (from ``serverless/``)
  requirements.txt, -gpu.txt*       numpy, pillow and onnxruntime (-gpu) for ``pip install -r``
  cvat_bridge/runtime/              a verbatim copy of ``cvat_bridge.runtime`` (image reading, ONNX, tags)
  cvat_bridge/__init__.py           an empty package around it (nothing else of the service)
  model/                            model.json, model.onnx (+ model.int8.onnx)
  README.md                         how to deploy it by hand
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import json
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cvat_bridge.model_lookup import get_ready_model
from cvat_bridge.runtime.classifier import read_model_info
from cvat_bridge.runtime.onnx_classifier import MODEL_FILES
from cvat_bridge.runtime.tags import CONFIDENCE_SPEC
from cvat_bridge.services import Services

VARIANTS = {"cpu": "function.yaml", "gpu": "function-gpu.yaml"}
ZIPS = {"cpu": "function.zip", "gpu": "function-gpu.zip"}  # /api/models/{id}/<zip>: a variant's folder
SOURCE_FILES = ("main.py", "README.md")
# Pinned to the versions this service runs, except onnxruntime-gpu: PyPI publishes the GPU build on its own
# schedule (often a release behind the CPU build), so it takes any 1.x from the same floor as pyproject.toml.
REQUIREMENTS = {
    "requirements.txt": ("numpy", "pillow", "onnxruntime"),
    "requirements-gpu.txt": ("numpy", "pillow", "onnxruntime-gpu>=1.20,<2"),
}
PACKAGES = {"cvat_bridge/runtime": "cvat_bridge.runtime"}  # folder -> package copied
NAME_PREFIX = "cvat-bridge"
# What only the GPU variant's folder holds: both serve the same runtime and model files.
GPU_ONLY = frozenset({"function-gpu.yaml", "requirements-gpu.txt"})
MAX_NAME_LENGTH = 63  # a DNS-1123 label, as Kubernetes-style names must be


@dataclass(frozen=True)
class FunctionSource:
    """One trained model version: what its function is made of."""

    model_id: int
    name: str
    version: int
    model_dir: Path
    info: dict[str, Any]  # model.json

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def function_name(self) -> str:
        return function_name(self.name, self.version)


def load_source(services: Services, model_id: int) -> FunctionSource:
    """The model's function source; model_lookup's ModelNotFound / ModelNotReady say why there is none."""
    model = get_ready_model(services, model_id)
    return FunctionSource(
        model.id, model.name, model.version, model.model_dir, read_model_info(model.model_dir)
    )


def function_name(model_name: str, version: int) -> str:
    """``cvat-bridge-<slug>-v<version>-<hash>``: a valid Nuclio/CVAT id for any model name, unique per
    model name and version (the hash of the exact name tells apart names that slug alike)."""
    ascii_name = unicodedata.normalize("NFKD", model_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    digest = hashlib.sha256(model_name.encode()).hexdigest()[:8]
    suffix = f"v{version}-{digest}"
    room = MAX_NAME_LENGTH - len(NAME_PREFIX) - len(suffix) - 2
    slug = slug[:room].strip("-")
    return "-".join(part for part in (NAME_PREFIX, slug, suffix) if part)


def variant_function_name(source: FunctionSource, variant: str) -> str:
    """The Nuclio function of one variant (and the name of its folder in the zip)."""
    return source.function_name + ("-gpu" if variant == "gpu" else "")


def spec_labels(classes: list[str]) -> list[dict[str, Any]]:
    """CVAT's label spec: one tag per class, named as the class, with a 0-100 confidence attribute."""
    return [
        {"id": index, "name": name, "type": "tag", "attributes": [dict(CONFIDENCE_SPEC)]}
        for index, name in enumerate(classes)
    ]


def function_config(source: FunctionSource, variant: str = "cpu", threads: int = 1) -> dict[str, Any]:
    """The function configuration of one variant ("cpu" or "gpu"), as its YAML file holds it."""
    template = yaml.safe_load((package_dir("serverless") / VARIANTS[variant]).read_text())
    config = copy.deepcopy(template)
    name = variant_function_name(source, variant)
    metadata = config["metadata"]
    metadata["name"] = name
    metadata["annotations"].update(
        name=f"{source.name} v{source.version}" + (" (GPU)" if variant == "gpu" else ""),
        spec=json.dumps(spec_labels(source.classes), ensure_ascii=False),
        version=source.version,
    )
    architecture = source.info.get("architecture", "classifier")
    multi = source.info.get("mode") == "multi"
    decision = (
        f"multi-label: tags each frame with every one of {len(source.classes)} labels above its threshold"
        if multi
        else f"single-label: tags each frame with one of {len(source.classes)} classes"
    )
    config["spec"]["description"] = (
        f"cvat-bridge {architecture} image classifier '{source.name}' version {source.version} "
        f"(model {source.model_id}); {decision}"
    )
    config["spec"]["build"]["image"] = f"cvat-bridge/{name}"
    for variable in config["spec"].get("env", []):
        if variable["name"] == "CVAT_BRIDGE_THREADS":
            variable["value"] = str(threads)
    return config


def render_function(source: FunctionSource, folder: Path, threads: int = 1, variant: str = "cpu") -> Path:
    """Write the model's function folder of one variant into ``folder`` (created; must not exist yet): both
    serve ``model.onnx``; "gpu" adds its configuration and requirements (GPU_ONLY) to the CPU one's."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")

    def wanted(relative: str) -> bool:
        return variant == "gpu" or relative not in GPU_ONLY

    folder.mkdir(parents=True)
    for name in filter(wanted, SOURCE_FILES):
        shutil.copyfile(package_dir("serverless") / name, folder / name)
    for config_variant, file_name in VARIANTS.items():
        if wanted(file_name):
            config = function_config(source, config_variant, threads)
            (folder / file_name).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    for file_name, packages in REQUIREMENTS.items():
        if wanted(file_name):
            (folder / file_name).write_text("".join(f"{requirement(p)}\n" for p in packages))
    for folder_name, package in PACKAGES.items():
        shutil.copytree(
            package_dir(package), folder / folder_name, ignore=shutil.ignore_patterns("__pycache__")
        )
    (folder / "cvat_bridge" / "__init__.py").write_text('"""What this function runs of cvat-bridge."""\n')
    (folder / "model").mkdir()
    for name in MODEL_FILES:
        if (source.model_dir / name).is_file():
            shutil.copy2(source.model_dir / name, folder / "model" / name)
    return folder


def requirement(package: str) -> str:
    """A requirement line: a bare name is pinned to the version installed here; a specifier stays as given."""
    return package if re.search(r"[<>=]", package) else f"{package}=={importlib.metadata.version(package)}"


def package_dir(package: str) -> Path:
    """The folder of an installed package of ours (a regular package, or the source folder in an editable
    install, where a folder that had no ``__init__.py`` at install time is a namespace package)."""
    return Path(importlib.import_module(package).__path__[0])


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """Zip a folder with the folder itself as the one top-level entry (so `unzip` makes that folder and spills
    nothing beside it). ONNX files are stored as they are: float weights hardly compress, and deflating 100 MB
    of them costs seconds."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stored = path.suffix == ".onnx"
                archive.write(
                    path,
                    path.relative_to(folder.parent).as_posix(),
                    compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                )
    return zip_path
