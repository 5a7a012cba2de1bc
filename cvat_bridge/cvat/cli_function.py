"""A cvat-sdk auto-annotation function: tag a CVAT task with a cvat-bridge model, without Nuclio.

    cvat-cli --server-host https://cvat.example.com --auth user task auto-annotate TASK_ID \\
        --function-module cvat_bridge.cvat.cli_function -p model=str:7 --conf-threshold 0.5

``model`` is a model id of this service's data dir (``CVAT_BRIDGE_DATA_DIR``) or the path of a model folder
(``model.json`` + ``model.onnx``). Each frame gets at most one tag: the most likely class, when its
probability reaches ``--conf-threshold`` (every frame is tagged without one). The model's classes are the
function's ``tag`` labels; cvat-cli maps them to the task's labels by name.
"""

from __future__ import annotations

from pathlib import Path

import cvat_sdk.auto_annotation as cvataa
from cvat_sdk import models
from PIL import Image

from cvat_bridge.runtime.classifier import MODEL_INFO_FILE, classify
from cvat_bridge.runtime.imaging import to_rgb
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.runtime.tags import frame_tags


def model_dir(model: str) -> Path:
    """The folder of ``model``: a path to a model folder, or a model id in the service's data dir."""
    path = Path(model).expanduser()
    if not path.is_dir() and model.strip().isdigit():
        from cvat_bridge.services import get_services

        path = get_services().storage.model_dir(int(model))
    if not (path / MODEL_INFO_FILE).is_file():
        raise ValueError(
            f"model {model!r}: no trained model there (expected {path / MODEL_INFO_FILE}); "
            "give a model id of CVAT_BRIDGE_DATA_DIR or the path of a model folder"
        )
    return path


class ClassifierFunction:
    """One tag per frame from an exported cvat-bridge classifier (ONNX Runtime, loaded once), decided by the
    runtime's tag builder as in the Nuclio function and the bridge's own task tagging."""

    def __init__(self, model: str, threads: int = 1) -> None:
        self.classifier = OnnxClassifier(model_dir(model), threads=threads)
        self.spec = cvataa.DetectionFunctionSpec(
            labels=[
                cvataa.label_spec(name, index, type="tag")
                for index, name in enumerate(self.classifier.classes)
            ]
        )

    def detect(
        self, context: cvataa.DetectionFunctionContext, image: Image.Image
    ) -> list[models.LabeledImageRequest]:
        probabilities = classify(self.classifier, [to_rgb(image)])[0]
        classifier = self.classifier
        tags = frame_tags(
            probabilities, classifier.classes, context.conf_threshold or 0.0, classifier.label_thresholds
        )
        return [cvataa.tag(tag.index) for tag in tags]


create = ClassifierFunction
