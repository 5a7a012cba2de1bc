"""The one builder of CVAT tags: every path into CVAT (the Nuclio function, the cvat-cli function module, the
bridge's own task tagging) decides a frame's tag here.

A frame of a single-label model gets at most one tag: the most likely class, when its probability reaches the
threshold. A multi-label model's frame gets one tag per label whose score reaches that label's threshold
(chosen on the train split) and the caller's threshold (a floor). A tag carries its confidence; CVAT keeps
it in a ``confidence`` number attribute (0-100) when the label has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .classifier import labels_above

CONFIDENCE_ATTRIBUTE = "confidence"
# The attribute as a label spec declares it (Nuclio's function.yaml): a whole number from 0 to 100.
CONFIDENCE_SPEC = {"name": CONFIDENCE_ATTRIBUTE, "input_type": "number", "values": ["0", "100", "1"]}


@dataclass(frozen=True)
class Tag:
    """The tag of one frame: class index and name, and the model's probability for it."""

    index: int
    label: str
    confidence: float

    def to_nuclio(self) -> dict[str, Any]:
        """The tag as a Nuclio detector answers it to CVAT (the confidence attribute: 0-100, as text)."""
        return {
            "label": self.label,
            "type": "tag",
            "confidence": round(self.confidence, 4),
            "attributes": [{"name": CONFIDENCE_ATTRIBUTE, "value": str(round(100 * self.confidence))}],
        }


def frame_tags(
    probabilities: np.ndarray,
    classes: Sequence[str],
    threshold: float = 0.0,
    label_thresholds: Sequence[float] | None = None,
) -> list[Tag]:
    """The tags of a frame, best first: single-label (``label_thresholds`` None): ``frame_tag``'s, if any;
    multi-label: every label reaching its threshold and ``threshold``."""
    if label_thresholds is None:
        tag = frame_tag(probabilities, classes, threshold)
        return [tag] if tag is not None else []
    chosen = labels_above(probabilities, label_thresholds, threshold)
    return [Tag(i, classes[i], float(probabilities[i])) for i in chosen]


def frame_tag(probabilities: np.ndarray, classes: Sequence[str], threshold: float = 0.0) -> Tag | None:
    """The tag of a frame from its probability row: the top class, or None when it is below ``threshold``."""
    top = int(np.argmax(probabilities))
    confidence = float(probabilities[top])
    return Tag(top, classes[top], confidence) if confidence >= threshold else None
