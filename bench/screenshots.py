"""Screenshots of every page, on a desktop (1280 px) and a phone (390x844), into docs/screenshots/.

    python bench/screenshots.py [--out docs/screenshots]

A fresh data dir gets a generated collection and a small trained model (seconds on a CPU), the service runs
in this process, and Debian's Chromium (/usr/bin/chromium, driven by Playwright) visits each page with the
model selected where a page shows one; the Inference page after classifying two images.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from cvat_bridge.services import Services, set_services  # noqa: E402
from tests.conftest import API_TOKEN, LiveServer, make_settings  # noqa: E402
from tests.helpers.images import class_image, image_bytes  # noqa: E402
from tests.helpers.models import train_tiny_model  # noqa: E402

VIEWS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def pages(model_id: int) -> dict[str, tuple[str, str]]:
    """name -> (path, selector that shows the page's data has loaded): the navigation's pages and the linked
    ones (the collection's page, a comparison: here of the one model with itself)."""
    return {
        "collections": ("/collections", "section.collection"),
        "train": ("/train", "#architectures input[type=radio]:checked"),
        "models": (f"/models#{model_id}", "#detail-metrics"),
        "inference": (f"/inference?model={model_id}", "figure.result"),
        "loops": ("/loops", f"#loop-model option[value='{model_id}']"),
        "collection": ("/collections/1", "#image-grid figure.thumb"),
        "compare": (f"/compare?a={model_id}&b={model_id}", "#compare-metrics"),
    }


def shoot(page: Page, name: str, path: str, ready: str, images: list[Path], out: Path, view: str) -> Path:
    page.goto(path)
    if name == "inference":
        expect(page.locator("#model-select")).not_to_have_value("", timeout=60_000)
        page.set_input_files("#image-input", [str(image) for image in images])
        page.click("#run-button")
    expect(page.locator(ready).first).to_be_attached(timeout=60_000)
    page.wait_for_load_state("networkidle")
    target = out / f"{name}-{view}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CVAT_BRIDGE_WEIGHTS_DOWNLOAD", "0")
    with tempfile.TemporaryDirectory() as temp:
        services = Services(make_settings(Path(temp) / "data"))
        set_services(services)
        model_id = train_tiny_model(services, name="colours", epochs=3)
        images = []
        for label in ("red", "blue"):
            images.append(Path(temp) / f"{label}.jpg")
            images[-1].write_bytes(image_bytes(class_image(label, 999, (64, 48))))
        with LiveServer(services) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            for view, size in VIEWS.items():
                context = browser.new_context(base_url=server.url, viewport=size)
                context.add_init_script(f"localStorage.setItem('cvat-bridge-token', '{API_TOKEN}')")
                page = context.new_page()
                for name, (path, ready) in pages(model_id).items():
                    print(shoot(page, name, path, ready, images, args.out, view))
                context.close()
            browser.close()
        services.jobs.close()
        services.db.dispose()


if __name__ == "__main__":
    main()
