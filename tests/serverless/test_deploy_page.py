"""The Deploy to CVAT block of the Models page (web/templates/_deploy.html + static/deploy.js) in headless
Chromium against the live bridge and the Nuclio stand-in: deploy, see it ready, download the zip, remove."""

from __future__ import annotations

import zipfile

import pytest

from cvat_bridge.services import Services, set_services
from tests.conftest import API_TOKEN, LiveServer
from tests.serverless.conftest import Bridge

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def deploy_page(browser, fresh_bridge: Bridge):
    context = browser.new_context(base_url=fresh_bridge.server.url, accept_downloads=True)
    context.add_init_script(f"localStorage.setItem('cvat-bridge-token', '{API_TOKEN}')")
    page = context.new_page()
    page.goto(f"/models#{fresh_bridge.v1}")  # the Models page with model v1 selected
    yield page
    context.close()


def test_deploy_download_and_remove_from_the_page(deploy_page, fresh_bridge: Bridge, tmp_path) -> None:
    page = deploy_page
    state = page.locator("#deployment [data-state]")
    state.wait_for()
    assert state.get_attribute("data-state") == "not_deployed"

    page.click("#deployment [data-action=deploy]")
    page.wait_for_selector("#deployment [data-state=ready]", timeout=120_000)
    name = next(iter(fresh_bridge.nuclio.functions))
    assert name in page.inner_text("#deployment")
    assert "CVAT lists it" in page.inner_text("#deployment .deploy-message")

    with page.expect_download() as download_info:
        page.click("#deployment [data-action=download]")
    download = download_info.value
    assert download.suggested_filename == f"{name}.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert f"{name}/function.yaml" in zipfile.ZipFile(saved).namelist()  # in one top folder

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#deployment [data-action=remove]")
    page.wait_for_selector("#deployment [data-state=removed]", timeout=30_000)
    assert fresh_bridge.nuclio.functions == {}


def test_without_a_public_url_the_page_says_what_to_set(browser, fresh_bridge: Bridge) -> None:
    settings = fresh_bridge.services.settings.model_copy(update={"public_url": None})
    services = Services(settings)
    try:
        with LiveServer(services) as server:
            context = browser.new_context(base_url=server.url)
            context.add_init_script(f"localStorage.setItem('cvat-bridge-token', '{API_TOKEN}')")
            page = context.new_page()
            page.goto(f"/models#{fresh_bridge.v1}")
            hint = page.locator("#deployment [data-missing=public-url]")
            hint.wait_for()
            assert "CVAT_BRIDGE_PUBLIC_URL" in hint.inner_text()
            assert page.locator("#deployment [data-action=deploy]").is_disabled()
            context.close()
    finally:
        services.db.dispose()
        set_services(fresh_bridge.services)
