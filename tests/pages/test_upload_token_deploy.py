"""Upload comfort (drag and drop, the name from the zip, split settings hidden for a split zip, cancel, delete
that names the models), the token dialog's "wrong token", and the Deploy section's reason and nuctl line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cvat_bridge.functions.render import function_name
from cvat_bridge.ingest.store import list_collections
from cvat_bridge.services import Services
from tests.collections.zips import class_files, write_zip
from tests.conftest import API_TOKEN, LiveServer
from tests.helpers.models import train_tiny_model

pytestmark = pytest.mark.browser

DROP = """async ({ target, input, files }) => {
  const transfer = new DataTransfer();
  for (const [name, bytes] of files) transfer.items.add(new File([new Uint8Array(bytes)], name));
  const event = new DragEvent("drop", { dataTransfer: transfer, bubbles: true });
  document.querySelector(target).dispatchEvent(event);
  return Array.from(document.querySelector(input).files).map((file) => file.name);
}"""


def drop(page: Page, target: str, input_selector: str, *paths: Path) -> list[str]:
    """Drop these files on target as a user dragging them from a file manager; the names input now holds."""
    files = [[path.name, list(path.read_bytes())] for path in paths]
    return page.evaluate(DROP, {"target": target, "input": input_selector, "files": files})


def test_drop_a_split_zip_name_prefilled_split_settings_hidden(page: Page, tmp_path: Path) -> None:
    split_zip = write_zip(
        tmp_path / "ants-vs-bees.zip",
        {
            **class_files({"ants": 3, "bees": 3}, "hymenoptera/train/"),
            **class_files({"ants": 2, "bees": 2}, "hymenoptera/val/"),
        },
    )
    flat_zip = write_zip(tmp_path / "fabrics.zip", class_files({"wool": 4, "silk": 4}))
    page.goto("/collections")
    assert drop(page, "#upload-form", "#zip-input", split_zip) == ["ants-vs-bees.zip"]
    expect(page.locator("#name-input")).to_have_value("ants-vs-bees")
    expect(page.locator("#split-given")).to_be_visible()
    expect(page.get_by_label("Val share")).to_be_hidden()

    drop(page, "#upload-form", "#zip-input", flat_zip)  # a name the user did not type follows the zip
    expect(page.locator("#name-input")).to_have_value("fabrics")
    expect(page.get_by_label("Val share")).to_be_visible()
    expect(page.locator("#split-given")).to_be_hidden()
    page.locator("#name-input").fill("my fabrics")
    drop(page, "#upload-form", "#zip-input", split_zip)  # a typed name stays
    expect(page.locator("#name-input")).to_have_value("my fabrics")

    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#flash")).to_have_text("Imported “my fabrics” v1: 10 images in 2 classes.")
    expect(page.locator("#import-report")).to_contain_text("as given in the zip")


def test_cancel_an_upload_in_progress(page: Page, services: Services, tmp_path: Path) -> None:
    big = write_zip(tmp_path / "big.zip", {"a/noise.jpg": os.urandom(3 * 1024**2)}, compression=0)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    page.goto("/collections")
    page.get_by_label("Zip file").set_input_files(str(big))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#upload-progress-text")).to_contain_text("Uploading…")
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.locator("#flash")).to_have_text("Upload cancelled: nothing was imported.")
    expect(page.locator("#upload-status")).to_be_hidden()
    expect(page.get_by_role("button", name="Upload and import")).to_be_enabled()
    page.wait_for_timeout(1_000)
    assert list_collections(services) == []


@pytest.mark.slow
def test_deleting_a_collection_names_the_models_trained_on_it(page: Page, services: Services) -> None:
    train_tiny_model(services, name="tiny", epochs=1)
    page.goto("/collections")
    card = page.locator("section.collection", has_text="tiny-data")
    messages: list[str] = []

    def answer(dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss() if len(messages) == 1 else dialog.accept()

    page.on("dialog", answer)
    card.get_by_role("button", name="Delete").click()
    expect(card).to_be_visible()
    card.get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0)
    assert messages[0].startswith("“tiny-data” v1 was used by 1 model (tiny v1); they keep their own files")
    assert messages[0].endswith("Delete “tiny-data” v1 and its 60 images?")
    assert list_collections(services) == []


def test_drop_images_on_the_inference_form(page: Page, tmp_path: Path) -> None:
    images = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for path in images:
        path.write_bytes(class_files({"x": 1})["x/x_0.jpg"])
    page.goto("/inference")
    assert drop(page, "#predict-form", "#image-input", *images) == ["a.jpg", "b.jpg"]


def test_a_wrong_token_is_said_inside_the_dialog(browser, live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto("/models")
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible()
        page.get_by_label("API token").fill("not-the-token")
        page.get_by_role("button", name="Save").click()
        expect(dialog.locator("#token-error")).to_have_text(
            "Wrong token: the service refused it. Check the file api-token and paste it again."
        )
        expect(dialog).to_be_visible()
        page.get_by_label("API token").fill(API_TOKEN)
        page.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#no-models")).to_be_visible()
        assert page.evaluate("localStorage.getItem('cvat-bridge-token')") == API_TOKEN
    finally:
        context.close()


@pytest.mark.slow
def test_deploy_section_says_why_deploy_is_off_and_copies_the_nuctl_line(
    page: Page, services: Services, live_server: LiveServer
) -> None:
    model_id = train_tiny_model(services, name="deployable", epochs=1)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"/models#{model_id}")
    deploy = page.locator("#deployment [data-action=deploy]")
    expect(deploy).to_be_disabled(timeout=30_000)
    why = "Deploy is off: CVAT_BRIDGE_NUCLIO_URL (CVAT's Nuclio dashboard) is not set."
    expect(page.locator("#deploy-why")).to_have_text(why)
    expect(deploy).to_have_attribute("title", why)
    page.get_by_role("button", name="Copy the nuctl deploy command").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    folder = function_name("deployable", 1)
    assert copied.startswith(f"nuctl deploy --project-name cvat --path ./{folder} --file ./{folder}/")
    assert copied == page.locator("#deployment .copyable code").inner_text()
