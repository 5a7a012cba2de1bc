"""Write `trainer/catalogue.json` from the installed torchvision and timm: `python -m trainer.catalogue_build`
(again after upgrading either; tests/trainer/test_catalogue_data.py fails while the file is out of date)."""

from __future__ import annotations

import json
from typing import Any

from trainer import timm_models, torchvision_models
from trainer.catalogue import CATALOGUE_FILE


def entries() -> list[dict[str, Any]]:
    """Every catalogue entry as the libraries describe it now, in catalogue order (torchvision's, then
    timm's)."""
    return [torchvision_models.describe(name) for name in torchvision_models.TORCHVISION_ARCHITECTURES] + [
        timm_models.describe(name) for name in timm_models.TIMM_ARCHITECTURES
    ]


def render(found: list[dict[str, Any]]) -> str:
    return json.dumps(found, indent=1) + "\n"


def main() -> None:
    CATALOGUE_FILE.write_text(render(entries()))
    print(f"wrote {CATALOGUE_FILE}")


if __name__ == "__main__":
    main()
